"""A small conditional patch discriminator: judges (JPEG input, candidate) pairs patch by patch, as in AR-GAN.

Conditioning on the compressed input (channel concat) lets it penalize restorations that drift from what the
codec saw, not only unrealistic textures. Two stride-2 4x4 convs and one stride-1 conv give a grid of logits
(7x7 for 28x28 inputs, receptive field 22 px); `layers` adds stride-2 stages for large patches. No
normalization layers: real and fake pairs go through in one batch, and batch statistics would mix them.
"""
from __future__ import annotations

import torch
from torch import nn

from cnr.errors import InputError


class PatchDiscriminator(nn.Module):
    """PatchGAN-style critic on concat(condition, image); returns one logit per patch, shape (N,1,h,w)."""

    def __init__(self, in_channels: int = 3, channels: int = 32, layers: int = 2):
        super().__init__()
        if layers < 1:
            raise InputError(f"discriminator needs at least 1 stride-2 layer, got layers={layers}")
        self.in_channels = in_channels
        mods: list[nn.Module] = [nn.Conv2d(2 * in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        c = channels
        for _ in range(layers - 1):
            mods += [nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
            c *= 2
        mods += [nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2, True), nn.Conv2d(c, 1, 3, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        if condition.shape != image.shape or image.ndim != 4 or image.shape[1] != self.in_channels:
            raise InputError(
                f"discriminator takes two (N,{self.in_channels},H,W) batches of one shape, got "
                f"{tuple(condition.shape)} and {tuple(image.shape)}"
            )
        return self.net(torch.cat([condition, image], 1) * 2 - 1)

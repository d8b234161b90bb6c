"""AR-GAN losses (pixel, SSIM, perceptual, adversarial) and the PSNR/SSIM metrics of the restoration table.

Defaults follow Galteri et al.'s papers on GAN-based JPEG artifact removal, which the defense's AR-GAN comes from:
pixel + SSIM pre-training, then a perceptual term on frozen features plus a small (1e-3) non-saturating
adversarial term. The perceptual network is the kit's own classifier `features` on Fashion-MNIST; for RGB natural
photos no frozen VGG is available offline, so the perceptual term is off unless a feature function is passed (any
callable [0,1] NCHW -> list of maps).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from cnr.errors import InputError

FeatureFn = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def pixel_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """L1 (robust, sharper) or L2 (MSE, what PSNR measures) distance, averaged."""
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "l2":
        return F.mse_loss(pred, target)
    raise InputError(f"unknown pixel loss {kind!r}; valid: l1, l2")


def _window(h: int, w: int, window: int = 11) -> int:
    """The largest odd window <= `window` that fits the image (SSIM on tiny images)."""
    win = min(window, h, w)
    return max(1, win - (1 - win % 2))


def ssim_loss(pred: torch.Tensor, target: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 with kornia's Gaussian window; 0 for identical images."""
    win = _window(*pred.shape[-2:], window)
    return kornia.losses.ssim_loss(pred, target, win, max_val=1.0, padding="same")


class PerceptualLoss(nn.Module):
    """Mean squared distance of frozen feature maps, each layer normalized by its target's mean square."""

    def __init__(self, features: FeatureFn, network: nn.Module | None = None):
        super().__init__()
        self.features = features
        self.network = network  # registered so .to(device) moves it; its parameters are frozen here
        if network is not None:
            network.eval()
            for p in network.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        if self.network is not None:
            self.network.eval()  # the feature net stays in eval mode (BN statistics, dropout)
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self.features(pred)
        with torch.no_grad():
            ft = self.features(target)
        terms = [F.mse_loss(a, b) / (b.pow(2).mean() + 1e-6) for a, b in zip(fp, ft)]
        return torch.stack(terms).mean()


def adversarial_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(x)), as softplus for stability."""
    return F.softplus(-fake_logits).mean()


def adversarial_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss: -log D(real) - log(1 - D(fake))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


@torch.no_grad()
def psnr(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Per-image PSNR in dB for [0,1] images (mean over images by default; 'none' keeps one per image)."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    out = -10 * torch.log10(mse)
    return out.mean() if reduction == "mean" else out


@torch.no_grad()
def ssim(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Per-image SSIM, Gaussian 11x11 window, sigma 1.5, borders dropped: equals scikit-image's
    `structural_similarity(gaussian_weights=True, use_sample_covariance=False, data_range=1)`."""
    h, w = pred.shape[-2:]
    win = _window(h, w)
    padding = "valid" if min(h, w) >= 11 else "same"
    out = kornia.metrics.ssim(pred.float(), target.float(), win, max_val=1.0, padding=padding).flatten(1).mean(1)
    return out.mean() if reduction == "mean" else out

"""The AR-GAN generator: the paper's SRResNet-like artifact remover, taking and returning [0,1] images.

Layout (the paper and the authors' 2021 code of the defense; padding 1): conv3x3 in->C + ReLU; 2x2 average pool;
conv3x3 C->C + BN + ReLU (kept as a long skip); `blocks` residual blocks (conv-BN-ReLU-conv-BN + identity);
conv3x3 + BN + the long skip; conv3x3 C->4C + pixel shuffle x2 + ReLU; conv1x1 C->in; tanh. The network works on [-1, 1]
inside; odd heights/widths are replicate-padded to even and cropped back, so any size >= 1 px goes through. Options
for natural photos: `residual` (predict a correction of the input), `batchnorm=False`, `pool=False` (every layer
at full resolution) and `block=8` (space-to-depth onto the 8x8 JPEG grid instead of the pooling).

Presets (`PRESETS`): "paper" is the authors' network (64 channels, 16 blocks). "quick" (16 channels, 2 blocks)
gives up some restoration quality for speed on this kit's CPU target: every attack step through the defense pays
the forward+backward N times, so the speed buys the sample sizes of the quick grid; the `full` profile uses the
paper preset. Chosen by benchmarks/choose_argan_preset.py; see benchmarks/NOTES.md.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnr.errors import InputError, unknown_name
from cnr.parsing import check_int

# Architecture bounds, checked before anything is allocated: far above the paper's 64 channels and 16 blocks, far
# below what a mistyped or edited metadata field could ask for (10^6 channels would allocate terabytes).
MAX_IN_CHANNELS, MAX_CHANNELS, MAX_BLOCKS = 4, 256, 64
JPEG_BLOCK_SIDES = (0, 2, 4, 8, 16)  # space-to-depth factors: off, or a power of two up to twice a JPEG block

PRESETS: dict[str, dict[str, int]] = {
    "paper": dict(channels=64, blocks=16),
    "quick": dict(channels=16, blocks=2),  # chosen by benchmarks/choose_argan_preset.py (see the docstring)
    # Natural RGB photos: without a full-resolution path, 16 channels at half resolution cannot carry the detail
    # of 3-channel images (the plain "quick" restored them worse than JPEG); predicting a correction added to the
    # input (out = clamp(x + f(x)), f starting at zero) keeps the cost of "quick"; and without BatchNorm, whose
    # training-photo statistics hurt on held-out photos. Kept for the natural bank by
    # benchmarks/choose_natural_preset.py (pooled, full-resolution and JPEG-block candidates on the same CPU budget):
    # the gains were the same within their intervals, and quick-residual reaches its gain first and is the cheapest
    # for the attacks, which pay the forward+backward N times per step. Measurements: benchmarks/NOTES.md.
    "quick-residual": dict(channels=16, blocks=2, residual=1, batchnorm=0),
    "tiny": dict(channels=8, blocks=1),  # tests and smoke runs only
}


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class ConvBN(nn.Module):
    """conv3x3 + BatchNorm; in eval mode BN is folded into the conv weights on the fly (one pass, not two).

    `bn=False` leaves the plain conv (EDSR's finding for restoration networks: batch statistics learned on the
    training images shift the output on images unlike them)."""

    def __init__(self, cin: int, cout: int, bn: bool = True):
        super().__init__()
        self.conv = _conv(cin, cout)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self._folded: tuple[tuple, torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is None:
            return self.conv(x)
        if self.training or not self.bn.track_running_stats:
            return self.bn(self.conv(x))
        weight, bias = self.folded()
        return F.conv2d(x, weight, bias, padding=self.conv.padding)

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The eval-mode conv weight and bias with BN folded in. A frozen restorer (an attack's many small batches)
        reuses them until a tensor they come from changes; with a tensor that needs a gradient they are made anew,
        so the graph runs through them."""
        bn, conv = self.bn, self.conv
        sources = (conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        frozen = not any(t.requires_grad for t in sources)
        key = (bn.eps, *((t.data_ptr(), t._version) for t in sources))
        if frozen and self._folded is not None and self._folded[0] == key:
            return self._folded[1], self._folded[2]
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        bias = (conv.bias - bn.running_mean) * scale + bn.bias
        weight = conv.weight * scale.view(-1, 1, 1, 1)
        self._folded = (key, weight, bias) if frozen else None
        return weight, bias


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus identity, as in SRResNet."""

    def __init__(self, channels: int, bn: bool = True):
        super().__init__()
        self.body = nn.Sequential(ConvBN(channels, channels, bn), nn.ReLU(inplace=True), ConvBN(channels, channels, bn))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).add_(x)  # in place is safe: conv/BN backward never reads their own output


class Generator(nn.Module):
    """Artifact-removal generator for one JPEG quality factor: [0,1] NCHW in, [0,1] NCHW out, same size."""

    def __init__(self, in_channels: int = 3, channels: int = 64, blocks: int = 16, residual: bool = False,
                 batchnorm: bool = True, pool: bool = True, block: int = 0):
        super().__init__()
        in_channels, channels, blocks, block = _checked_sizes(in_channels, channels, blocks, block)
        self.in_channels, self.channels, self.blocks, self.residual = in_channels, channels, blocks, bool(residual)
        self.batchnorm, self.pool, self.block = bool(batchnorm), bool(pool), int(block)
        bn = self.batchnorm
        c = channels
        if self.block:  # one position per JPEG block (the codec's grid starts at the image's top left): lossless
            # space-to-depth, so every 3x3 conv sees 3x3 whole blocks at 1/block^2 of the cost of a pixel conv
            k = in_channels * self.block**2
            self.head = nn.Sequential(nn.PixelUnshuffle(self.block), _conv(k, c), nn.ReLU(inplace=True))
        else:  # pool=False keeps every layer at full resolution: 4x the cost, but no detail is lost to the pooling
            down = [nn.AvgPool2d(2)] if self.pool else []
            self.head = nn.Sequential(_conv(in_channels, c), nn.ReLU(inplace=True), *down)
        self.pre = nn.Sequential(ConvBN(c, c, bn), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[ResidualBlock(c, bn) for _ in range(blocks)])
        self.post = ConvBN(c, c, bn)
        if self.block:
            self.up = nn.Sequential(_conv(c, k), nn.PixelShuffle(self.block))
            self.tail = nn.Identity()
        else:
            self.up = (nn.Sequential(_conv(c, 4 * c), nn.PixelShuffle(2), nn.ReLU(inplace=True)) if self.pool
                       else nn.Sequential(_conv(c, c), nn.ReLU(inplace=True)))
            self.tail = _conv(c, in_channels, k=1)
        last = self.up[0] if self.block else self.tail
        if self.residual:  # start as the identity: training only ever has to learn the correction
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def architecture(self) -> dict[str, Any]:
        """What it takes to rebuild this network; stored in the weights metadata and checked on load."""
        return architecture_of(self.in_channels, self.channels, self.blocks, self.residual, self.batchnorm,
                               self.pool, self.block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise InputError(f"generator input must be NCHW (4 dims), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise InputError(f"generator trained for {self.in_channels} channel(s), got {x.shape[1]}")
        if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):  # the weights' floats, not float64/uint8
            fix = "x.float() / 255" if x.dtype == torch.uint8 else "x.float()"
            raise InputError(f"generator input must be a float32 tensor in [0, 1], got dtype "
                             f"{str(x.dtype).replace('torch.', '')}; convert with {fix}")
        h, w = x.shape[-2:]
        m = self.block or (2 if self.pool else 1)
        pad_h, pad_w = -h % m, -w % m  # bottom/right only: the JPEG grid stays where it was
        z = x * 2 - 1
        if pad_h or pad_w:
            z = F.pad(z, (0, pad_w, 0, pad_h), mode="replicate")
        skip = self.pre(self.head(z))
        y = self.tail(self.up(self.post(self.body(skip)).add_(skip)))
        if self.residual:  # (.to: under bf16 autocast the images stay in the input's dtype between iterations)
            return (x + y[..., :h, :w] / 2).clamp(0, 1).to(x.dtype)
        y = torch.tanh(y)[..., :h, :w]
        return ((y + 1) / 2).to(x.dtype)


def _checked_sizes(in_channels: Any, channels: Any, blocks: Any, block: Any) -> tuple[int, int, int, int]:
    """The generator's sizes as ints within bounds (InputError otherwise), before any layer is built."""
    sizes = (check_int(in_channels, "generator in_channels", 1, MAX_IN_CHANNELS),
             check_int(channels, "generator channels", 1, MAX_CHANNELS),
             check_int(blocks, "generator blocks", 0, MAX_BLOCKS), check_int(block, "generator block", 0, 16))
    if sizes[3] not in JPEG_BLOCK_SIDES:
        raise InputError(f"generator block must be one of {JPEG_BLOCK_SIDES}, got {sizes[3]}")
    return sizes


def architecture_of(in_channels: int, channels: int, blocks: int, residual: bool = False, batchnorm: bool = True,
                    pool: bool = True, block: int = 0) -> dict[str, Any]:
    """The `architecture` record of a generator with these options (Generator's arguments)."""
    arch: dict[str, Any] = {"name": "argan-generator", "in_channels": int(in_channels), "channels": int(channels),
                            "blocks": int(blocks)}
    # non-default options only, so that files written before an option existed still match
    arch.update({"residual": True} if residual else {})
    arch.update({"batchnorm": False} if not batchnorm else {})
    arch.update({"pool": False} if not pool else {})
    return {**arch, "block": int(block)} if block else arch


def preset_architecture(preset: str, in_channels: int) -> dict[str, Any]:
    """The `architecture` record of build_generator(preset, in_channels), without building (or seeding) one."""
    if preset not in PRESETS:
        raise unknown_name("generator preset", preset, PRESETS)
    return architecture_of(in_channels, **PRESETS[preset])


def build_generator(preset: str = "quick", in_channels: int = 3, **overrides: int) -> Generator:
    """A generator from a named preset (`PRESETS`), optionally overriding channels/blocks."""
    if preset not in PRESETS:
        raise unknown_name("generator preset", preset, PRESETS)
    return Generator(in_channels=in_channels, **{**PRESETS[preset], **overrides})


def generator_from_architecture(arch: dict[str, Any]) -> Generator:
    """Rebuild a generator from the `architecture` dict of a weights file (types and sizes checked first)."""
    if not isinstance(arch, dict) or not {"in_channels", "channels", "blocks"} <= set(arch):
        raise InputError(f"not a generator architecture (in_channels, channels and blocks are needed): {arch!r}")
    flags = {}
    for name, default in (("residual", False), ("batchnorm", True), ("pool", True)):
        value = arch.get(name, default)
        if not isinstance(value, bool) and value not in (0, 1):  # bool("false") would be True
            raise InputError(f"generator architecture field {name} must be true or false, got {value!r}")
        flags[name] = bool(value)
    return Generator(in_channels=arch["in_channels"], channels=arch["channels"], blocks=arch["blocks"],
                     block=arch.get("block", 0), **flags)

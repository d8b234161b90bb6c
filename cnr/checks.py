"""Validation at the kit's boundaries, so bad input fails early with a message, not deep in torch."""
from __future__ import annotations

import torch

from cnr.errors import InputError


def check_images(
    x: torch.Tensor,
    *,
    channels: int | tuple[int, ...] | None = None,
    min_size: int = 1,
    name: str = "images",
) -> torch.Tensor:
    """Check the kit's image contract: float NCHW in [0, 1], finite, non-empty."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(f"{name} must be NCHW (4 dims), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}")
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if x.shape[1] not in allowed:
            raise InputError(f"{name} have {x.shape[1]} channels; expected {' or '.join(map(str, allowed))}")
    if min(x.shape[2], x.shape[3]) < min_size:
        raise InputError(f"{name} are {x.shape[2]}x{x.shape[3]} px; at least {min_size}x{min_size} is needed")
    with torch.no_grad():
        if not torch.isfinite(x).all():
            raise InputError(f"{name} contain NaN or Inf")
        lo, hi = x.min().item(), x.max().item()
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] (divide by 255?)")
    return x


def check_labels(y: torch.Tensor, n: int, num_classes: int | None = None) -> torch.Tensor:
    """Check labels: int64, one per image, in range."""
    if not isinstance(y, torch.Tensor):
        raise InputError(f"labels must be a torch.Tensor, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise InputError(f"labels must be int64, got {y.dtype}")
    if y.shape != (n,):
        raise InputError(f"labels must have shape ({n},) to match the images, got {tuple(y.shape)}")
    if num_classes is not None and n and (y.min() < 0 or y.max() >= num_classes):
        raise InputError(f"labels must lie in [0, {num_classes - 1}], got [{y.min().item()}, {y.max().item()}]")
    return y

"""Validation at the kit's boundaries, so bad input fails early with a message, not deep in torch."""
from __future__ import annotations

import os
from pathlib import Path

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


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' is CUDA when present, else CPU; a device that is not there is refused in one line."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; use cpu, cuda, cuda:<index> or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"CUDA was asked for (device {device!r}) but torch.cuda.is_available() is False on this "
                         "machine; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {device!r} is not supported; use cpu, cuda or auto")
    return dev


def check_writable(folder: str | os.PathLike) -> Path:
    """Create `folder` if needed and prove it writable before any work starts (not after an hour of it)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".cnr-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise InputError(f"output folder {folder} is not writable ({e.strerror or e}); choose another with --out "
                         "or fix its permissions") from None
    return folder

"""Validation at the kit's boundaries, so bad input fails early with a message, not deep in torch."""
from __future__ import annotations

import contextlib
import contextvars
import numbers
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from cnr.errors import InputError
from cnr.parsing import check_int

FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)  # for callers that take any float

# True inside `images_checked()`: the images were checked at the public entry, so inner calls check structure only
_VALUES_CHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar("cnr_image_values_checked", default=False)


@contextlib.contextmanager
def images_checked() -> Iterator[None]:
    """Within this block, check_images checks structure only (no pass over the pixels, no device sync).

    The public entry (run_attack, CompressRestore.forward) checks its images once and then runs its inner loop
    here, so every query and every defense iteration does not pay four full-tensor passes and their syncs.
    """
    token = _VALUES_CHECKED.set(True)
    try:
        yield
    finally:
        _VALUES_CHECKED.reset(token)


def values_checked() -> bool:
    """Whether the caller runs inside `images_checked()` (its images' values were checked at the entry)."""
    return _VALUES_CHECKED.get()


def check_images(
    x: torch.Tensor,
    *,
    channels: int | tuple[int, ...] | None = None,
    size: int | tuple[int, int] | None = None,
    min_size: int = 1,
    dtypes: tuple[torch.dtype, ...] = (torch.float32,),
    name: str = "images",
) -> torch.Tensor:
    """Check the kit's image contract (float32 NCHW in [0, 1], finite, non-empty) and a model's declared input.

    `channels` (one int or the allowed ones) and `size` (int or (H, W)) are the model's declared input;
    `dtypes` widens the accepted dtypes for code that handles other floats (e.g. ``dtypes=FLOAT_DTYPES``).
    Inside `images_checked()` the values (finite, in [0, 1]) are not checked again: structure only.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(x).__name__}; convert with torch.as_tensor(...)")
    if x.device.type == "meta":
        raise InputError(f"{name} are on the meta device, which holds shapes but no values; pass real tensors")
    if x.ndim != 4:
        hint = "; add the batch dim with x.unsqueeze(0)" if x.ndim == 3 else ""
        raise InputError(f"{name} must be NCHW (4 dims), got shape {tuple(x.shape)}{hint}")
    if x.shape[1] > 4 and x.shape[3] in (1, 3, 4):  # no image has >4 channels and a width of 1, 3 or 4 px
        raise InputError(f"{name} look channels last (N, H, W, C), got shape {tuple(x.shape)}; the kit takes "
                         f"NCHW: permute with x.permute(0, 3, 1, 2)")
    if x.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (shape {tuple(x.shape)}); pass at least one image")
    if x.dtype not in dtypes:
        want = " or ".join(str(d).replace("torch.", "") for d in dtypes)
        if x.is_floating_point():
            fix = "x.float()"
        elif x.dtype == torch.uint8:
            fix = "x.float() / 255"
        elif x.dtype == torch.bool:
            fix = "x.float()"
        else:
            fix = "x.float() / x.max() (or / 255 for 8-bit pixel values)"
        raise InputError(f"{name} must be a {want} tensor in [0, 1], got dtype {str(x.dtype).replace('torch.', '')}; "
                         f"convert with {fix}")
    _check_geometry(x, channels, size, min_size, name)
    if _VALUES_CHECKED.get():
        return x
    with torch.no_grad():
        finite = torch.isfinite(x)
        if not finite.all():
            bad = int((~finite).sum())
            nan = int(torch.isnan(x).sum())
            raise InputError(f"{name} contain NaN or Inf: {bad} of {x.numel()} values ({nan} NaN, {bad - nan} Inf); "
                             f"fix what produced them (images must be finite values in [0, 1])")
        lo, hi = x.min().item(), x.max().item()
    if lo < -1e-6 or hi > 1 + 1e-6:
        hint = " (divide by 255?)" if hi > 1.5 else " (clamp with x.clamp(0, 1)?)"
        raise InputError(f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]{hint}")
    return x


def _check_geometry(x: torch.Tensor, channels, size, min_size: int, name: str) -> None:
    """Channels and size against what the model declares, worded as one line naming both."""
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    allowed = None if channels is None else ((channels,) if isinstance(channels, int) else tuple(channels))
    want_hw = None
    if size is not None:
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            want_hw = (int(size), int(size))
        elif isinstance(size, (tuple, list)) and len(size) == 2:
            want_hw = (int(size[0]), int(size[1]))
        else:
            raise InputError(f"size must be an int or an (H, W) pair, got {size!r}")
    bad_c = allowed is not None and c not in allowed
    bad_hw = want_hw is not None and (h, w) != want_hw
    if bad_c or bad_hw:
        want_c = "" if allowed is None else "- or ".join(map(str, allowed)) + "-channel "
        want_s = "" if want_hw is None else f"{want_hw[0]}x{want_hw[1]} "
        parts, fixes = [], []
        if bad_c:
            parts.append(f"have {c} channel{'' if c == 1 else 's'}, expected {' or '.join(map(str, allowed))}")
            fixes.append("fix the channels (gray to RGB: x.expand(-1, 3, -1, -1); "
                         "RGB to gray: x.mean(1, keepdim=True))")
        if bad_hw:
            parts.append(f"are {h}x{w} px, expected {want_hw[0]}x{want_hw[1]}")
            fixes.append(f"resize with torch.nn.functional.interpolate(x, size={want_hw})")
        raise InputError(f"{name} {' and '.join(parts)} (the model expects {want_c}{want_s}images, got {c}-channel "
                         f"{h}x{w}); {' and '.join(fixes)}")
    if min(h, w) < min_size:
        raise InputError(f"{name} are {h}x{w} px; at least {min_size}x{min_size} is needed")


def check_labels(y: torch.Tensor, n: int, num_classes: int | None = None) -> torch.Tensor:
    """Check labels: int64, one per image, class indices (in [0, num_classes) when the model declares its classes)."""
    if not isinstance(y, torch.Tensor) or y.device.type == "meta":
        raise InputError(f"labels must be a torch.Tensor with values, got {type(y).__name__} "
                         f"{'on the meta device' if isinstance(y, torch.Tensor) else ''}".rstrip())
    if y.dtype != torch.int64:
        raise InputError(f"labels must be int64, got {y.dtype}")
    if y.shape != (n,):
        raise InputError(f"labels must have shape ({n},) to match the images, got {tuple(y.shape)}")
    top = "" if num_classes is None else f", {num_classes - 1}"
    if n and (y.min() < 0 or (num_classes is not None and y.max() >= num_classes)):
        raise InputError(f"labels must lie in [0{top or ', ...'}], got [{y.min().item()}, {y.max().item()}]")
    return y


def declared_classes(model: torch.nn.Module) -> int | None:
    """The number of classes a kit classifier inside `model` declares (its ClassifierInfo), None if none does."""
    info = next((m.cnr_input for m in model.modules() if hasattr(m, "cnr_input")), None)
    return getattr(info, "num_classes", None)


# --- devices ---------------------------------------------------------------------------------------

_DEVICE_TYPES = ("cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = "auto", flag: str = "--device") -> torch.device:
    """Turn 'auto'/'cpu'/'cuda'/'cuda:N'/'mps' into a device that exists here, so a bad one fails before any work.

    None means 'auto'; a bare 'cuda' is this process's GPU (LOCAL_RANK under torchrun, else the current one).
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(device, str):
        text = device.strip()
        try:
            dev = torch.device(text)
        except (RuntimeError, ValueError, TypeError):
            raise InputError(f"{flag} {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    elif isinstance(device, torch.device):
        dev, text = device, str(device)
    else:
        raise InputError(f"device must be a string like 'cpu' or 'cuda:0' or a torch.device, "
                         f"got {type(device).__name__} {device!r}")
    if dev.type not in _DEVICE_TYPES:
        raise InputError(f"{flag} {text!r}: the kit runs on cpu, cuda, cuda:N or mps, not {dev.type!r}; "
                         f"use {flag} auto")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"CUDA was asked for ({flag} {text}) but torch.cuda.is_available() is False on this "
                             f"machine; use {flag} cpu")
        count = torch.cuda.device_count()
        index = dev.index
        if index is None:
            rank = os.environ.get("LOCAL_RANK", "").strip()
            if rank and not rank.isdigit():
                raise InputError(f"LOCAL_RANK={rank!r} is not a GPU index; unset it or launch with torchrun")
            index = int(rank) if rank else torch.cuda.current_device()
        if not 0 <= index < count:
            raise InputError(f"{flag} {text} asks for GPU {index}, but this machine has {count} "
                             f"(cuda:0..cuda:{count - 1}); use {flag} cuda:0 or {flag} cpu")
        return torch.device("cuda", index)
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError(f"MPS was asked for ({flag} {text}) but torch.backends.mps.is_available() is False on "
                             f"this machine; use {flag} cpu")
    return dev


def _parts(obj, label: str) -> Iterator[tuple[str, torch.device]]:
    if isinstance(obj, torch.nn.Module):
        for n, p in obj.named_parameters(recurse=True):
            yield f"{label} parameter {n!r}", p.device
        for n, b in obj.named_buffers(recurse=True):
            yield f"{label} buffer {n!r}", b.device
    elif isinstance(obj, torch.Tensor):
        yield label, obj.device
    else:
        raise InputError(f"{label} must be a torch.nn.Module or a torch.Tensor, got {type(obj).__name__}")


def check_one_device(*modules_or_tensors: torch.nn.Module | torch.Tensor | None) -> torch.device | None:
    """Check every parameter, buffer and tensor given is on one device (None: nothing to check), so a mix fails here."""
    first: tuple[str, torch.device] | None = None
    for i, obj in enumerate(modules_or_tensors, 1):
        if obj is None:
            continue
        label = f"argument {i} ({type(obj).__name__})"
        for where, dev in _parts(obj, label):
            if first is None:
                first = (where, dev)
            elif dev != first[1]:
                raise InputError(f"everything must be on one device, but {first[0]} is on {first[1]} and {where} "
                                 f"is on {dev}; move them with .to({str(first[1])!r})")
    return None if first is None else first[1]


# --- folders and files -----------------------------------------------------------------------------

def check_writable(folder: str | os.PathLike) -> Path:
    """Create `folder` if needed and prove it is writable (a probe file) before hours of work are spent."""
    try:
        folder = Path(folder)
    except TypeError:
        raise InputError(f"output folder must be a path, got {type(folder).__name__} {folder!r}") from None
    from cnr.paths import refuse_shipped

    refuse_shipped(folder, "output folder")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output folder {folder} is a file, not a folder; pass a folder path or remove the file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"output folder {folder} cannot be created: a part of its path is a file; "
                         f"pass a folder path") from None
    except OSError as e:
        raise InputError(f"output folder {folder} cannot be created ({e.strerror or e}); "
                         f"pass a folder you can write to") from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".cnr-write-probe.", suffix=".tmp")
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            Path(probe).unlink(missing_ok=True)
    except OSError as e:
        raise InputError(f"output folder {folder} is not writable ({e.strerror or e}); "
                         f"fix its permissions or pass a folder you can write to") from None
    return folder


def check_count(value: int, name: str, minimum: int = 1) -> int:
    """A whole number >= minimum: `cnr.parsing.check_int` under the name older callers import."""
    return check_int(value, name, minimum)


def check_output_file(path: str | os.PathLike, suffix: str | None = None, name: str = "output file") -> Path:
    """A file path to write: not a folder, the right suffix, its folder writable (checked before the work)."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InputError(f"{name} must be a file path (str or Path), got {type(path).__name__} {path!r}")
    path = Path(path)
    if path.is_dir():
        example = path / ("weights" + (suffix or ""))
        raise InputError(f"{name} {path} is a folder; give a file path inside it, e.g. {example}")
    if suffix is not None and path.suffix != suffix:
        raise InputError(f"{name} {path} must end in {suffix} (the kit writes {suffix} files), "
                         f"got {path.suffix or 'no suffix'!r}")
    check_writable(path.parent)
    return path

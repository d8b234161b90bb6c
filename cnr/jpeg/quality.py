"""JPEG quality factors: the checks every codec call makes on them, and the defense's random draw of them."""
from __future__ import annotations

import numpy as np
import torch

from cnr.errors import InputError

QF_MIN, QF_MAX = 1, 100


def _check_qf_int(q, name: str = "qf") -> int:
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)):
        raise InputError(f"{name} must be an integer in [{QF_MIN}, {QF_MAX}], got {type(q).__name__} {q!r}")
    if not QF_MIN <= q <= QF_MAX:
        raise InputError(f"{name} must be an integer in [{QF_MIN}, {QF_MAX}], got {q}")
    return int(q)


def check_qf(qf: int | torch.Tensor, n: int) -> int | list[int]:
    """Return one int QF for the batch or a list of n, so that bad QFs fail before any coding."""
    if not isinstance(qf, torch.Tensor):
        return _check_qf_int(qf)
    if qf.dtype == torch.bool or qf.is_floating_point() or qf.is_complex():
        raise InputError(f"qf tensor must have an integer dtype (e.g. torch.long), got {qf.dtype}")
    if qf.ndim == 0:
        return _check_qf_int(int(qf.item()))
    if qf.ndim != 1:
        raise InputError(f"qf tensor must be 1-D with one QF per image, got shape {tuple(qf.shape)}")
    if qf.shape[0] != n:
        raise InputError(
            f"qf tensor has {qf.shape[0]} values but the batch has {n} images; "
            f"pass one QF per image (shape ({n},)) or a single int"
        )
    values = qf.tolist()
    lo, hi = min(values), max(values)
    if lo < QF_MIN or hi > QF_MAX:
        raise InputError(f"qf values must be integers in [{QF_MIN}, {QF_MAX}], got values in [{lo}, {hi}]")
    return values


def sample_qf(n: int, qf_range: tuple[int, int] | int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw n QFs uniformly from [lo, hi] inclusive, seeded by generator, for the defense's random compression."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(qf_range, (tuple, list)):
        if len(qf_range) != 2:
            raise InputError(f"qf_range must be an int or a (lo, hi) pair, got {qf_range!r}")
        lo, hi = (_check_qf_int(q, "qf_range bounds") for q in qf_range)
        if lo > hi:
            raise InputError(f"qf_range must have lo <= hi, got ({lo}, {hi})")
    else:
        lo = hi = _check_qf_int(qf_range, "qf_range")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = generator.device if generator is not None else "cpu"
    return torch.randint(lo, hi + 1, (int(n),), generator=generator, device=device, dtype=torch.long)

"""JPEG quality factors: the checks every codec call makes on them, and the defense's random draw of them."""
from __future__ import annotations

import torch

from cnr.errors import InputError
from cnr.parsing import QF_MAX, QF_MIN, check_int, check_qf, parse_qf_range

__all__ = ["QF_MAX", "QF_MIN", "check_qfs", "sample_qf"]


def check_qfs(qf: int | torch.Tensor, n: int) -> int | list[int]:
    """Return one int QF for the batch or a list of n, so that bad QFs fail before any coding."""
    if not isinstance(qf, torch.Tensor):
        return check_qf(qf)
    if qf.dtype == torch.bool or qf.is_floating_point() or qf.is_complex():
        raise InputError(f"qf tensor must have an integer dtype (e.g. torch.long), got {qf.dtype}")
    if qf.ndim == 0:
        return check_qf(int(qf.item()))
    if qf.ndim != 1:
        raise InputError(f"qf tensor must be 1-D with one QF per image, got shape {tuple(qf.shape)}")
    if qf.shape[0] != n:
        raise InputError(
            f"qf tensor has {qf.shape[0]} values but the batch has {n} images; "
            f"pass one QF per image (shape ({n},)) or a single int"
        )
    values = qf.tolist()
    for q in (min(values), max(values)):
        check_qf(q, "qf tensor value")
    return values


def sample_qf(n: int, qf_range: tuple[int, int] | int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw n QFs uniformly from [lo, hi] inclusive, seeded by generator, for the defense's random compression."""
    n = check_int(n, "n", 0)
    lo, hi = parse_qf_range(qf_range, "qf_range", text=False)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = generator.device if generator is not None else "cpu"
    return torch.randint(lo, hi + 1, (n,), generator=generator, device=device, dtype=torch.long)

"""What the four mechanism measurements share: the defenses measured, their draw indices, per-image gradients and
cosines, bootstrap intervals, and the setup and value columns of every row."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from cnr.argan.bank import RestorerBank
from cnr.checks import check_images, check_labels
from cnr.config import Grid
from cnr.defenses import CompressRestore
from cnr.defenses.registry import defense_specs
from cnr.errors import InputError
from cnr.parsing import check_int, parse_qf_range
from cnr.stats import bootstrap_mean

Defenses = Mapping[str, "CompressRestore | None"]
SETUP_COLUMNS = ["defense", "mode", "N", "qf_range", "grad", "n_images", "draws", "seed"]
VALUE_COLUMNS = ["metric", "value", "lo", "hi", "interval"]
INTERVAL = "bootstrap95-images"
MECH_DRAW_BASE = 2_000_000_000  # above cnr.eval.scoring.EVAL_DRAW_BASE + any draw count the evaluation uses
DRAWS_PER_SEED = 1_000_000
BATCH_SIZE = 256


def standard_defenses(
    bank: RestorerBank, qf_range: int | tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5),
    seed: int = 0, grad: str = "bpda", include_none: bool = False,
) -> dict[str, CompressRestore | None]:
    """The grid's compress-restore defenses (jpeg, static-N*, dynamic-N*; optionally none) at these Ns, BPDA
    backward."""
    qr = parse_qf_range(qf_range, "qf_range", text=False)
    grid = Grid(qf_range=qr, ns=tuple(ns), sweep_ns=tuple(ns), fixed_qf=None)
    specs = [d for d in defense_specs(grid) if d.builder in ("none", "compress-restore") and "fixed-qf" not in d.roles]
    return {s.name: s.build(bank, grad=grad, seed=seed) for s in specs if include_none or s.mode != "none"}


def measurement_draws(seed: int, count: int, offset: int = 0) -> list[int]:
    """Draw indices for a measurement: fixed by seed, and never an attack's or the evaluation's draw."""
    check_int(seed, "seed", 0)
    if count + offset > DRAWS_PER_SEED:
        raise InputError(f"at most {DRAWS_PER_SEED} draws per seed, asked for {count + offset}")
    start = MECH_DRAW_BASE + seed * DRAWS_PER_SEED + offset
    return list(range(start, start + count))


def per_image_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between matching rows of two (n, ...) tensors, in float64; NaN where either row is zero."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), torch.nan)


def input_gradients(defense: CompressRestore | None, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    draw: int, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """(n, C*H*W) gradients of the cross-entropy of classifier(defense(x, draw)) w.r.t. x: what a BPDA attacker sees."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].detach().clone().requires_grad_(True)
        z = xb if defense is None else defense(xb, draw=draw)
        loss = F.cross_entropy(classifier(z), y[i:i + batch_size], reduction="sum")  # sum: per-image gradients
        out.append(torch.autograd.grad(loss, xb)[0].flatten(1))
    return torch.cat(out)


def check_setup(defenses: Defenses, x: torch.Tensor, y: torch.Tensor | None, seed: int, batch_size: int) -> None:
    """The arguments every defense measurement takes, checked once before any gradient or draw is spent."""
    if not isinstance(defenses, Mapping) or not defenses:
        raise InputError("defenses must be a non-empty {name: CompressRestore or None} mapping (see standard_defenses)")
    for name, d in defenses.items():
        if d is not None and not isinstance(d, CompressRestore):
            raise InputError(f"defense {name!r} must be a CompressRestore or None, got {type(d).__name__}")
    check_images(x, min_size=8, name="measurement images")
    if y is not None:
        check_labels(y, len(x))
    check_int(seed, "seed", 0)
    check_int(batch_size, "batch_size", 1)


def setup_columns(name: str, d: CompressRestore | None, n: int, draws: int, seed: int) -> dict:
    """The SETUP_COLUMNS of one defense's rows, so tables of different measurements join on them."""
    if d is None:
        return dict(defense=name, mode="none", N=0, qf_range="-", grad="-", n_images=n, draws=draws, seed=seed)
    lo, hi = d.qf_range
    return dict(defense=name, mode=d.mode, N=d.n_iter, qf_range=f"{lo}-{hi}", grad=d.grad, n_images=n, draws=draws,
                seed=seed)


def value_row(setup: dict, metric: str, values: torch.Tensor, seed: int, **keys) -> dict:
    """One table row: the setup, the measurement's keys, and the per-image values' mean with its bootstrap interval."""
    mean, lo, hi = bootstrap_mean(values, seed)
    return {**setup, **keys, "metric": metric, "value": mean, "lo": lo, "hi": hi, "interval": INTERVAL}

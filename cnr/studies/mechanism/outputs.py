"""The two measurements on what defenses output (no gradients): how differently the generators restore one JPEG
image, and how much each defense shrinks a perturbation."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import torch
from torch import nn

from cnr.argan.bank import RestorerBank
from cnr.attacks import run_attack
from cnr.checks import check_images
from cnr.defenses import CompressRestore
from cnr.errors import InputError
from cnr.jpeg import jpeg_roundtrip
from cnr.parsing import check_int, check_qf
from cnr.studies.mechanism.common import BATCH_SIZE, Defenses, check_setup, measurement_draws, setup_columns, value_row

# --- (c) generator divergence ------------------------------------------------------------------------------------

@torch.no_grad()
def generator_divergence(bank: RestorerBank, x: torch.Tensor, input_qfs: Iterable[int] | None = None, seed: int = 0,
                         batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Per-image RMSE between every pair of outputs on the same JPEG image: per-QF generators, static, JPEG, clean.

    For each input QF, x is JPEG-coded once and every generator restores that same image; columns a, b name the
    outputs ("clean", "jpeg", "qf05", ..., "static"), so generator-vs-generator gaps sit beside the JPEG-vs-clean
    gap that sets the scale. metric "rmse" is in [0, 1] pixel units.
    """
    if not isinstance(bank, RestorerBank):
        raise InputError(f"bank must be a RestorerBank, got {type(bank).__name__}")
    check_images(x, channels=bank.in_channels, min_size=8, name="measurement images")
    check_int(seed, "seed", 0)
    check_int(batch_size, "batch_size", 1)
    input_qfs = [check_qf(q, "input_qfs") for q in (bank.qfs if input_qfs is None else input_qfs)]
    if not input_qfs:
        raise InputError("input_qfs must name at least one QF")
    rows = []
    setup = dict(defense="bank", mode="generators", N=1, qf_range=f"{min(bank.qfs)}-{max(bank.qfs)}", grad="-",
                 n_images=len(x), draws=1, seed=seed)
    for q in input_qfs:
        outs: dict[str, list[torch.Tensor]] = {}
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            jb = jpeg_roundtrip(xb, q)
            parts = {"clean": xb, "jpeg": jb, **{f"qf{g:02d}": bank.restore(jb, g) for g in bank.qfs}}
            if bank.has_static:
                parts["static"] = bank.static(jb)
            for k, v in parts.items():
                outs.setdefault(k, []).append(v.flatten(1).double())
        flat = {k: torch.cat(v) for k, v in outs.items()}
        for a in flat:
            for b in flat:
                rmse = (flat[a] - flat[b]).pow(2).mean(1).sqrt()
                rows.append(value_row(setup, "rmse", rmse, seed, input_qf=int(q), a=a, b=b))
    return pd.DataFrame(rows)


# --- (d) smoothing -----------------------------------------------------------------------------------------------

def perturbations(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, size: float, kind: str,
                  seed: int = 0, pgd_steps: int = 10) -> torch.Tensor:
    """delta with x + delta in [0, 1]: Gaussian scaled to `size`, or PGD on the bare classifier (kit budgets)."""
    if norm not in ("linf", "l2") or not size > 0:
        raise InputError(f"norm must be 'linf' or 'l2' and size > 0, got {norm!r}, {size!r}")
    if kind == "pgd":
        return run_attack("pgd", classifier, x, y, size, norm=norm, seed=seed, steps=pgd_steps).x_adv - x
    if kind != "gaussian":
        raise InputError(f"perturbation kind must be 'gaussian' or 'pgd', got {kind!r}")
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device).flatten(1)
    xf = x.flatten(1)
    scale = size / g.abs().amax(1) if norm == "linf" else size * xf.norm(dim=1) / g.norm(dim=1)  # L2: ||d|| / ||x||
    return ((xf + g * scale[:, None]).clamp(0, 1) - xf).view_as(x)


@torch.no_grad()
def _pinned(d: CompressRestore | None, x: torch.Tensor, qfs: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    if d is None:
        return x
    return torch.cat([d.purify(x[i:i + batch_size], qfs[:, i:i + batch_size]) for i in range(0, len(x), batch_size)])


def smoothing(defenses: Defenses, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
              sizes: Iterable[tuple[str, float]] = (("linf", 0.05), ("l2", 0.1)),
              kinds: Iterable[str] = ("gaussian", "pgd"), draws: int = 2, pgd_steps: int = 10, seed: int = 0,
              batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """||D(x+d) - D(x)|| / ||d|| and the fraction of labels flipped, at pinned QFs: how much each defense smooths.

    The QFs of each draw are those the clean image gets (draw_qfs(x, draw)) and are reused for x + d, so the ratio
    measures the defense as a function, not its randomness (re-hashing x + d would draw new QFs). metric "ratio":
    per image, mean over draws of the L2 ratio; "flip": fraction of draws whose prediction on D(x+d) differs from
    that on D(x). The undefended entry (None) gives ratio 1 and the bare classifier's flips. JPEG is piecewise
    constant (quantized coefficients, 8-bit pixels), so small random d can give ratios above 1.
    """
    check_setup(defenses, x, y, seed, batch_size)
    check_int(draws, "draws", 1)
    check_int(pgd_steps, "pgd_steps", 1)
    sizes, kinds = list(sizes), list(kinds)
    if not sizes or not kinds:
        raise InputError("sizes and kinds must be non-empty")
    deltas = {(k, nm, float(s)): perturbations(classifier, x, y, nm, float(s), k, seed, pgd_steps)
              for nm, s in sizes for k in kinds}
    rows = []
    for name, d in defenses.items():
        ids = measurement_draws(seed, draws) if d is not None else [0]
        pins = [d.draw_qfs(x, a).to(x.device) if d is not None else None for a in ids]
        clean = [_pinned(d, x, q, batch_size) for q in pins]
        with torch.no_grad():
            clean_pred = [classifier(c).argmax(1) for c in clean]
        setup = setup_columns(name, d, len(x), len(ids), seed)
        for (kind, nm, s), delta in deltas.items():
            xp = (x + delta).clamp(0, 1)
            dn = (xp - x).flatten(1).norm(dim=1)
            ratio, flip = torch.zeros(len(x), dtype=torch.float64), torch.zeros(len(x), dtype=torch.float64)
            for q, c, p in zip(pins, clean, clean_pred):
                out = _pinned(d, xp, q, batch_size)
                ratio += ((out - c).flatten(1).norm(dim=1) / dn).double().cpu()
                with torch.no_grad():
                    flip += (classifier(out).argmax(1) != p).double().cpu()
            keys = dict(delta=kind, norm=nm, size=s)
            rows += [value_row(setup, "ratio", ratio / len(ids), seed, **keys),
                     value_row(setup, "flip", flip / len(ids), seed, **keys)]
    return pd.DataFrame(rows)

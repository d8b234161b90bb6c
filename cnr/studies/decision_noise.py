"""Decision noise measured directly: how often two independent draws of a random defense disagree about a point, as a
function of the point's normalized L2 distance to the decision boundary.

Points lie on the segment from each image x to an adversarial x_adv found for it (by default HopSkipJump's, the
path its binary searches walk), at x + t (x_adv - x) for t on a grid from 0 past 1 (clipped to the box). Each point
is classified under 2 * `pairs` pinned draws in one batched pass. The boundary of an image is where the fraction of
draws calling its points adversarial first reaches one half (interpolated between grid points); a point's signed
distance is (t - t_boundary) ||x_adv - x|| / ||x|| (negative: on the clean side). A pair of draws flips when its
two labels differ; per distance bin the flip rate has its 95% Wilson interval over the bin's pairs.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from cnr.attacks.base import flat_norm
from cnr.attacks.draws import DrawnQueries
from cnr.errors import InputError
from cnr.parsing import check_int
from cnr.stats import wilson_interval

NOISE_DRAW_BASE = 4_000_000_000  # apart from the attacks' and the scoring's draws (cnr.attacks.draws)
EDGES = (-0.2, -0.1, -0.05, -0.02, 0.0, 0.02, 0.05, 0.1, 0.2)  # normalized L2 distance to the boundary


def _labels(model: nn.Module, points: torch.Tensor, draws: int, batch_size: int) -> torch.Tensor:
    """(P, draws) labels of every point under the same pinned draws, `batch_size` model rows per pass."""
    per = max(1, batch_size // draws)
    out = []
    with torch.no_grad():
        for i in range(0, len(points), per):
            queries = DrawnQueries(model, draws, first_draw=NOISE_DRAW_BASE)  # every chunk: the same draws
            out.append(queries.logits(points[i : i + per]).argmax(2).cpu())
    return torch.cat(out)


def _boundary(t: torch.Tensor, p_adv: torch.Tensor) -> torch.Tensor:
    """Per image, the first t where the adversarial fraction reaches 1/2, interpolated (nan: never on the grid)."""
    n = p_adv.shape[0]
    out = torch.full((n,), float("nan"), dtype=torch.float64)
    for i in range(n):
        above = (p_adv[i] >= 0.5).nonzero()
        if len(above) == 0:
            continue
        j = int(above[0])
        if j == 0:
            out[i] = t[0]
            continue
        p0, p1 = float(p_adv[i, j - 1]), float(p_adv[i, j])
        out[i] = t[j - 1] + (0.5 - p0) / (p1 - p0) * (t[j] - t[j - 1])
    return out


def decision_noise(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, *, points: int = 17,
                   reach: float = 2.0, pairs: int = 8, edges: Sequence[float] = EDGES,
                   batch_size: int = 2000) -> pd.DataFrame:
    """Flip rate between two draws per distance-to-boundary bin: columns bin_lo, bin_hi, distance_median, n (pairs),
    flips, flip_rate, lo, hi, images (with a boundary on their segment), points."""
    points, pairs = check_int(points, "points", 2), check_int(pairs, "pairs", 1)
    if x_adv.shape != x.shape or len(y) != len(x):
        raise InputError(f"decision_noise needs x, y and x_adv of one length and shape, got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}, {tuple(x_adv.shape)}")
    if not (math.isfinite(reach) and reach >= 1):
        raise InputError(f"reach (how far past x_adv the segment goes, in segment lengths) must be >= 1, got {reach}")
    bounds = [-math.inf, *sorted(edges), math.inf]
    moved = flat_norm(x_adv - x) > 0
    x, y, x_adv = x[moved], y[moved], x_adv[moved]
    t = torch.linspace(0, reach, points, dtype=torch.float64)
    tt = t.to(x.dtype).to(x.device).view(1, -1, 1, 1, 1)
    segment = (x[:, None] + tt * (x_adv - x)[:, None]).clamp(0, 1).flatten(0, 1)  # (n * points, C, H, W)
    labels = _labels(model, segment, 2 * pairs, batch_size).view(len(x), points, 2 * pairs)
    adversarial = labels != y.cpu().view(-1, 1, 1)
    t_b = _boundary(t, adversarial.double().mean(2))
    length = (flat_norm(x_adv - x) / flat_norm(x).clamp_min(1e-12)).cpu().double()
    distance = (t.view(1, -1) - t_b.view(-1, 1)) * length.view(-1, 1)  # (n, points); nan rows: no boundary
    flips = (labels[..., 0::2] != labels[..., 1::2]).sum(2)  # (n, points) flips out of `pairs`
    has = torch.isfinite(distance)
    d, f = distance[has], flips[has]
    rows: list[dict[str, Any]] = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        inside = (d >= lo) & (d < hi)
        k, n = int(f[inside].sum()), int(inside.sum()) * pairs
        ci = wilson_interval(k, n)
        rows.append(dict(bin_lo=lo, bin_hi=hi, distance_median=float(d[inside].median()) if n else math.nan, n=n,
                         flips=k, flip_rate=k / n if n else math.nan, lo=ci[0], hi=ci[1],
                         images=int(has.any(1).sum()), points=int(inside.sum())))
    return pd.DataFrame(rows)


def decision_noise_study(ev: Any, defenses: Sequence[str] = ("jpeg", "static-N3", "dynamic-N3"), n: int = 16,
                         hsj_params: dict[str, Any] | None = None, **kwargs: Any) -> pd.DataFrame:
    """decision_noise per defense on the segments toward HopSkipJump's unbounded adversarials against it, on the
    evaluator's first `n` images; one table, a defense column. HopSkipJump runs the profile's hsj settings without
    their query cap (its whole walk, to the boundary), or `hsj_params` as given (e.g. a protocol's query budget: the
    path that protocol's HopSkipJump walks)."""
    from cnr.attacks import run_attack
    from cnr.cells.groups import group_params
    from cnr.defenses import Defended, defense_by_name

    if hsj_params is None:
        params = {k: v for k, v in group_params(ev.run.profile, "hsj").items() if k != "max_queries"}
    else:
        params = dict(hsj_params)
    x, y = ev.x[:n], ev.y[:n]
    tables = []
    for name in defenses:
        defense = defense_by_name(ev.run.profile, name).build(ev.bank, grad="bpda", seed=ev.seed)
        model = ev.classifier if defense is None else Defended(defense, ev.classifier)
        res = run_attack("hsj", model, x, y, float("inf"), "l2", seed=ev.seed, **params)
        table = decision_noise(model, x, y, res.x_adv, **kwargs)
        table.insert(0, "defense", name)
        table.insert(1, "seed", ev.seed)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)

"""The two gradient measurements: how alike independent draws' BPDA gradients are, and how much EOT recovers."""
from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

import pandas as pd
import torch
from torch import nn

from cnr.errors import InputError
from cnr.parsing import check_int
from cnr.studies.mechanism.common import (
    BATCH_SIZE,
    Defenses,
    check_setup,
    input_gradients,
    measurement_draws,
    per_image_cosine,
    setup_columns,
    value_row,
)

# --- (a) cross-draw gradient cosine ------------------------------------------------------------------------------

def gradient_cosine(defenses: Defenses, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 4,
                    seed: int = 0, batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Per-image cosine of BPDA gradients under independent draws (low: one draw's gradient misleads the next).

    metric "cross-draw": per image, the mean cosine over all pairs of `draws` distinct draws; "same-draw": the
    gradient at the first draw recomputed from scratch against the first one (1 unless draw pinning is broken);
    "cross-draw-diff": for each N with both a static and a dynamic defense, dynamic minus static per image (defense
    "dynamic-N<k> - static-N<k>"), so the contrast gets a paired interval over the same images.
    """
    check_setup(defenses, x, y, seed, batch_size)
    check_int(draws, "draws", 2)
    rows, cross_by = [], {}
    for name, d in defenses.items():
        ids = measurement_draws(seed, draws)
        grads = [input_gradients(d, classifier, x, y, a, batch_size) for a in ids]
        again = input_gradients(d, classifier, x, y, ids[0], batch_size)
        cross = torch.stack([per_image_cosine(grads[i], grads[j]) for i, j in combinations(range(draws), 2)]).mean(0)
        setup = setup_columns(name, d, len(x), draws, seed)
        same = per_image_cosine(grads[0], again)
        rows += [value_row(setup, "cross-draw", cross, seed), value_row(setup, "same-draw", same, seed)]
        if d is not None and d.mode in ("static", "dynamic"):
            cross_by[(d.mode, d.n_iter)] = (name, setup, cross)
    for (mode, n), (dyn_name, setup, dyn) in cross_by.items():
        if mode == "dynamic" and ("static", n) in cross_by:
            static_name, _, static = cross_by[("static", n)]
            paired = {**setup, "defense": f"{dyn_name} - {static_name}", "mode": "dynamic - static"}
            rows.append(value_row(paired, "cross-draw-diff", dyn - static, seed))
    return pd.DataFrame(rows)


# --- (b) EOT alignment -------------------------------------------------------------------------------------------

def eot_alignment(defenses: Defenses, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  ks: Iterable[int] = (1, 2, 4, 8, 16, 32), reference: int = 32, seed: int = 0,
                  batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Cosine of the k-draw mean gradient with a disjoint `reference`-draw mean: how much EOT recovers per draw spent.

    The reference draws and the EOT draws never overlap, so even k = reference stays below 1 for a random defense:
    that row is the split-half agreement of two independent reference-sized estimates (the ceiling of this
    measurement); a deterministic defense gives 1 at every k.
    """
    check_setup(defenses, x, y, seed, batch_size)
    ks = sorted({check_int(k, "every k", 1) for k in ks})
    check_int(reference, "reference", 1)
    if not ks or ks[-1] > reference:
        raise InputError(f"ks must be non-empty with every k <= reference ({reference}), got {ks}")
    rows = []
    for name, d in defenses.items():
        ref = sum(input_gradients(d, classifier, x, y, a, batch_size) for a in measurement_draws(seed, reference))
        acc = torch.zeros_like(ref)
        setup = setup_columns(name, d, len(x), reference, seed)
        for j, a in enumerate(measurement_draws(seed, ks[-1], offset=reference), start=1):
            acc += input_gradients(d, classifier, x, y, a, batch_size)
            if j in ks:
                rows.append(value_row(setup, "alignment", per_image_cosine(acc, ref), seed, k=j))
    return pd.DataFrame(rows)

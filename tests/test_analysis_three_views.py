"""cnr.analysis.three_views: each view is the per-image ensemble of an attack family on the track's images (an
unbounded HopSkipJump through its submissions at the budget), judged on the bare model against the best white-box
attack; the white-box family may come from another grid and is cut to the track's images."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from cnr.analysis.three_views import l2_reference, reference_at, three_views
from cnr.eval.outcomes import save_outcomes


def table(tmp_path, cells, name="robustness.csv"):
    """cells[(defense, attack, budget)] = (correct draws x n, pert per image or None)."""
    csv = str(tmp_path / name)
    rows = []
    for (defense, attack, budget), (correct, pert) in cells.items():
        c = torch.tensor(correct, dtype=torch.bool)
        kind = {"clean": "clean", "legacy-clean": "clean", "legacy-bpda-pgd": "adaptive"}.get(attack, "black-box")
        r = dict(dataset="d", classifier="c", defense=defense, attack=attack, norm="l2", budget=budget, params="{}",
                 seed=0, mode="none" if defense == "none" else "dynamic", kind=kind, n=c.shape[1],
                 accuracy=c.float().mean().item())
        p = torch.tensor(pert if pert is not None else [budget] * c.shape[1], dtype=torch.float32)
        r["outcomes"] = save_outcomes(csv, r, c, ~c.all(0), p)
        rows.append(r)
    return pd.DataFrame(rows), csv


def test_views_are_per_image_ensembles_on_the_same_images(tmp_path):
    inf = math.inf
    df, csv = table(tmp_path, {
        ("dyn", "legacy-clean", 0.0): ([[1, 1, 1, 1], [1, 1, 1, 0]], None),
        # HopSkipJump's smallest adversarials: images 0 and 1 within 0.05 (and fooled on draw 0 only), 2 and 3 not
        ("dyn", "legacy-hsj", inf): ([[0, 0, 1, 1], [1, 1, 0, 0]], [0.01, 0.04, 0.2, 0.3]),
        # Square at 0.05 fools image 2 on every draw
        ("dyn", "legacy-square", 0.05): ([[1, 1, 0, 1], [1, 1, 0, 1]], None),
        ("dyn", "legacy-hsj-vote3", inf): ([[0, 0, 0, 0], [0, 0, 0, 0]], [0.5, 0.5, 0.5, 0.5]),  # nothing fits 0.05
        ("dyn", "legacy-bpda-pgd", 0.05): ([[0, 1, 1, 1], [0, 1, 1, 1]], None),
        ("none", "legacy-clean", 0.0): ([[1, 1, 1, 1]], None),
        ("none", "legacy-hsj", inf): ([[0, 0, 0, 0]], [0.01, 0.01, 0.01, 0.01]),
        ("none", "legacy-bpda-pgd", 0.05): ([[0, 0, 0, 1]], None),
    })
    views = three_views("t", df, csv, df, csv, budgets=(0.05,)).set_index(["defense", "view"])
    pub = views.loc[("dyn", "as published")]
    # per image, the worst attack's mean over draws: 0.5, 0.5 (HSJ), 0 (Square), clean draw 1 misses image 3: 0.5
    assert pub["accuracy"] == pytest.approx((0.5 + 0.5 + 0 + 0.5) / 4) and pub["worst_accuracy"] == 0.0
    assert pub["attacks"] == "legacy-hsj,legacy-square" and pub["n"] == 4 and pub["draws"] == 2
    # the 3-draw majority found nothing within 0.05: its submissions are the clean images
    rand = views.loc[("dyn", "randomness handled")]
    assert rand["accuracy"] == pytest.approx(7 / 8) and rand["attacks"] == "legacy-hsj-vote3"
    assert pd.isna(rand["inconclusive"])  # no bare-model cell of that family: not checked
    white = views.loc[("dyn", "white-box")]
    assert white["accuracy"] == pytest.approx((0 + 1 + 1 + 0.5) / 4)
    # the protocol's family breaks the bare model as well as the white-box attack does: conclusive
    assert not pd.isna(pub["inconclusive"]) and not bool(pub["inconclusive"])
    assert views.loc[("none", "as published"), "accuracy"] == 0.0


def test_a_family_weak_on_the_bare_model_is_inconclusive_and_a_borrowed_white_box_is_cut_to_the_track(tmp_path):
    inf = math.inf
    df, csv = table(tmp_path, {
        ("dyn", "legacy-clean", 0.0): ([[1, 1]], None), ("dyn", "legacy-hsj", inf): ([[1, 1]], [0.5, 0.5]),
        ("none", "legacy-clean", 0.0): ([[1, 1]], None), ("none", "legacy-hsj", inf): ([[1, 1]], [0.5, 0.5]),
    })
    # the white-box cells of another grid, on 4 images; the track has 2
    other = tmp_path / "other"
    other.mkdir()
    wdf, wcsv = table(other, {
        ("dyn", "clean", 0.0): ([[1, 1, 1, 1]], None), ("dyn", "legacy-bpda-pgd", 0.05): ([[1, 0, 0, 0]], None),
        ("none", "clean", 0.0): ([[1, 1, 1, 1]], None), ("none", "legacy-bpda-pgd", 0.05): ([[0, 0, 0, 0]], None),
    })
    views = three_views("t", df, csv, wdf, wcsv, budgets=(0.05, 0.08)).set_index(["defense", "view", "budget"])
    assert bool(views.loc[("dyn", "as published", 0.05), "inconclusive"])  # bare 1.0 vs white-box 0.0
    white = views.loc[("dyn", "white-box", 0.05)]
    assert white["n"] == 2 and white["accuracy"] == 0.5  # the first 2 images of the borrowed grid
    assert ("dyn", "white-box", 0.08) not in views.index  # no white-box cell at 0.08
    # at 0.08 the reference is 0.05's (an upper bound of the white-box accuracy there)
    assert views.loc[("dyn", "as published", 0.08), "reference_accuracy"] == 0.0


def test_the_reference_is_the_best_white_box_attack_at_or_below_the_budget():
    df = pd.DataFrame([dict(mode="none", kind=k, norm=nm, budget=b, accuracy=a) for k, nm, b, a in (
        ("adaptive", "l2", 0.05, 0.3), ("adaptive", "l2", 0.05, 0.2), ("black-box", "l2", 0.05, 0.0),
        ("adaptive", "l2", 0.08, 0.1), ("adaptive", "linf", 0.05, 0.0))])
    ref = l2_reference(df)
    assert ref[0.05] == 0.2 and ref[0.08] == 0.1  # black-box rows and other norms are no reference
    assert reference_at(ref, 0.06) == 0.2 and math.isnan(reference_at(ref, 0.01))


def test_a_view_is_judged_by_the_same_attacks_on_the_bare_model(tmp_path):
    """The bare model ran HopSkipJump and Square at 0.08, the defense only HopSkipJump: Square's strength there says
    nothing about the defended view, which is judged by HopSkipJump alone (weak: inconclusive)."""
    inf = math.inf
    df, csv = table(tmp_path, {
        ("dyn", "legacy-clean", 0.0): ([[1, 1]], None), ("dyn", "legacy-hsj", inf): ([[1, 1]], [0.5, 0.5]),
        ("none", "legacy-clean", 0.0): ([[1, 1]], None), ("none", "legacy-hsj", inf): ([[1, 1]], [0.5, 0.5]),
        ("none", "legacy-square", 0.08): ([[0, 0]], None), ("none", "legacy-bpda-pgd", 0.08): ([[0, 0]], None),
    })
    views = three_views("t", df, csv, df, csv, budgets=(0.08,)).set_index(["defense", "view"])
    assert views.loc[("none", "as published"), "accuracy"] == 0.0  # HopSkipJump and Square on the bare model
    dyn = views.loc[("dyn", "as published")]
    assert dyn["attacks"] == "legacy-hsj" and dyn["undefended_accuracy"] == 1.0 and bool(dyn["inconclusive"])


def test_part_of_a_family_strong_on_the_bare_model_makes_the_view_conclusive(tmp_path):
    inf = math.inf
    df, csv = table(tmp_path, {
        ("dyn", "legacy-clean", 0.0): ([[1, 1]], None), ("dyn", "legacy-hsj", inf): ([[1, 1]], [0.5, 0.5]),
        ("dyn", "legacy-square", 0.08): ([[1, 1]], None),
        ("none", "legacy-clean", 0.0): ([[1, 1]], None), ("none", "legacy-square", 0.08): ([[0, 0]], None),
        ("none", "legacy-bpda-pgd", 0.08): ([[0, 0]], None),
    })
    dyn = three_views("t", df, csv, df, csv, budgets=(0.08,)).set_index(["defense", "view"]).loc[
        ("dyn", "as published")]
    # Square alone breaks the bare model as well as white-box: the family (HopSkipJump and Square) is strong enough
    assert dyn["attacks"] == "legacy-hsj,legacy-square" and not bool(dyn["inconclusive"])

"""The dynamic-vs-static study's pieces: one run per bank, the side-by-side table, the paired verdict in words."""
from __future__ import annotations

import pandas as pd
import pytest

from cnr import study
from cnr.errors import InputError


def test_study_runs_differ_only_in_the_bank(tmp_path):
    runs = study.study_runs("study", results_root=tmp_path)
    assert list(runs) == ["paper", "quick"]
    assert runs["paper"].name == "study" and runs["quick"].name == "study+argan_preset=quick"
    assert runs["quick"].profile.argan_preset == "quick" and runs["paper"].profile.argan_preset == "paper"
    assert {r.profile.n_eval for r in runs.values()} == {500}
    assert list(study.study_runs("smoke", results_root=tmp_path)) == ["quick"]  # its own bank is the quick one
    for bad in ("paper", []):
        with pytest.raises(InputError, match="banks must be a non-empty list"):
            study.study_runs("study", banks=bad)
    with pytest.raises(InputError, match="unknown generator preset 'huge'"):
        study.study_runs("study", banks=["huge"])


def _paired(diffs: list[tuple[str, float, float, float]], bank: str = "paper") -> pd.DataFrame:
    rows = [dict(bank=bank, defense_a="static-N3", defense_b="dynamic-N3", attack=a, norm="linf", budget=0.1 + i,
                 n=200, diff=d, diff_lo=lo, diff_hi=hi, only_a=5, only_b=2, mcnemar_p=0.04, inconclusive=False)
            for i, (a, d, lo, hi) in enumerate(diffs)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("diffs, claim", [
    ([("ensemble", -0.1, -0.15, -0.05)], "does not hold: the static generator keeps more"),
    ([("ensemble", 0.1, 0.05, 0.15)], "holds: the dynamic bank keeps more"),
    ([("ensemble", 0.1, 0.05, 0.15), ("ensemble", -0.1, -0.15, -0.05)], "is mixed"),
    ([("ensemble", 0.0, -0.05, 0.05), ("bpda-pgd", 0.2, 0.1, 0.3)], "is not shown"),
])
def test_verdict_says_which_way_the_ensemble_goes(diffs, claim):
    text = study.verdict(_paired(diffs))
    assert text.startswith("paper bank, dynamic minus static") and claim in text
    assert "dynamic-N3 vs static-N3, every attack at Linf 0.1: " in text and "McNemar" in text


def test_verdict_skips_inconclusive_and_clean_rows_and_needs_columns():
    t = _paired([("ensemble", -0.1, -0.15, -0.05), ("clean", 0.5, 0.4, 0.6), ("square", 0.5, 0.4, 0.6)])
    t.loc[2, "inconclusive"] = True
    text = study.verdict(pd.concat([t, t.assign(bank="quick")]))
    assert "in 0 of 0 cells" in text and text.count("does not hold") == 2 and "quick bank" in text
    with pytest.raises(InputError, match="verdict needs a paired table"):
        study.verdict(pd.DataFrame({"bank": ["x"]}))


def test_side_by_side_one_column_per_bank_and_defense():
    def table(acc: float) -> pd.DataFrame:
        return pd.DataFrame([dict(attack="bpda-pgd", norm="linf", budget=0.1, n=500, defense=d, worst_accuracy=acc,
                                  worst_lo=acc - 0.01, worst_hi=acc + 0.01, inconclusive=d == "jpeg")
                             for d in ("static-N3", "jpeg")])
    wide = study.side_by_side({"quick": table(0.2), "paper": table(0.4)})
    assert list(wide.columns) == ["attack", "norm", "budget", "n", "quick jpeg", "quick static-N3", "paper jpeg",
                                  "paper static-N3"]
    assert wide.loc[0, "paper static-N3"] == "0.400 [0.390, 0.410]" and len(wide) == 1
    assert wide.loc[0, "quick jpeg"] == "0.200 [0.190, 0.210] (inconclusive)"
    with pytest.raises(InputError, match="no results rows"):
        study.side_by_side({"quick": pd.DataFrame()})


def test_paired_figure_draws_both_banks():
    from cnr.reporting.figures import MissingRows, paired_figure

    t = pd.concat([_paired([("ensemble", -0.1, -0.15, -0.05), ("bpda-pgd", 0.0, -0.1, 0.1)]),
                   _paired([("ensemble", -0.2, -0.25, -0.15)], bank="quick")])
    fig = paired_figure(t)
    assert len(fig.axes[0].get_yticklabels()) == 2 and fig.axes[0].get_legend() is not None
    two_pairs = pd.concat([t, t.assign(defense_a="static-N1", defense_b="dynamic-N1")])
    labels = [x.get_text() for x in paired_figure(two_pairs).axes[0].get_yticklabels()]
    assert len(labels) == 4 and labels[0].startswith("dynamic-N1 vs static-N1: ")
    with pytest.raises(MissingRows):
        paired_figure(pd.DataFrame())

"""cnr.analysis.paired (and the ensemble rule it builds on): the paired static-vs-dynamic comparison, on
per-image outcomes made up here."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import outcome_table

from cnr.analysis.ensemble import ensemble
from cnr.analysis.paired import default_pairs, paired_difference, paired_table


def test_paired_difference_mcnemar_and_interval():
    a = np.array([1] * 30 + [0] * 70, bool)  # static keeps 30 images
    b = np.array([1] * 10 + [0] * 90, bool)  # dynamic keeps 10 of those, nothing else
    d = paired_difference(a, b, seed=0)
    assert d["diff"] == pytest.approx(-0.2) and (d["only_a"], d["only_b"]) == (20, 0)
    assert d["mcnemar_p"] == pytest.approx(2 * 0.5 ** 20)  # exact two-sided binomial test on 20 discordant images
    assert d["diff_lo"] < -0.2 < d["diff_hi"] < 0
    same = paired_difference(a, a)
    assert same["diff"] == same["diff_lo"] == same["diff_hi"] == 0 and same["mcnemar_p"] == 1.0


def test_ensemble_and_paired_table_take_every_attack_and_draw(tmp_path):
    one = [[1] * 8, [1] * 8]
    cells = {
        ("static-N3", "static", "clean", 0.0): one,
        ("dynamic-N3", "dynamic", "clean", 0.0): [[1] * 7 + [0], [1] * 8],  # image 7 wrong in one draw
        ("static-N3", "static", "pgd", 0.1): [[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0]],
        ("static-N3", "static", "eot", 0.1): [[1, 1, 1, 0, 1, 0, 0, 0], [1, 1, 1, 0, 1, 0, 0, 0]],
        ("dynamic-N3", "dynamic", "pgd", 0.1): [[1, 0, 0, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 0, 1]],
        ("dynamic-N3", "dynamic", "eot", 0.1): [[1, 1, 0, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 0, 1]],
    }
    df, csv = outcome_table(tmp_path, cells)
    ens = ensemble(df, csv).set_index("defense")
    assert ens.loc["static-N3", "robust_accuracy"] == 3 / 8  # images 0-2 survive both attacks
    assert ens.loc["dynamic-N3", "robust_accuracy"] == 1 / 8  # image 0 (image 1 falls in a draw, 7 clean)
    assert default_pairs(df) == [("static-N3", "dynamic-N3")]
    t = paired_table(df, csv).set_index("attack")
    assert t[t["budget"] == 0.1].index[0] == "ensemble"  # per budget, the ensemble first
    assert t.loc["ensemble", "diff"] == pytest.approx(1 / 8 - 3 / 8)
    assert (t.loc["ensemble", "only_a"], t.loc["ensemble", "only_b"]) == (2, 0)
    assert t.loc["pgd", "acc_a"] == 4 / 8 and t.loc["pgd", "acc_b"] == 2 / 8
    assert t.loc["clean", "diff"] == pytest.approx(-1 / 8)


def test_paired_ensemble_takes_the_attacks_aimed_at_the_dynamic_bank_alone(tmp_path):
    cells = {
        ("static-N3", "static", "pgd", 0.1): [[1, 1, 1, 1, 0, 0, 0, 0]],
        ("dynamic-N3", "dynamic", "pgd", 0.1): [[1, 1, 1, 1, 1, 1, 0, 0]],
        ("dynamic-N3", "dynamic", "expected", 0.1): [[1, 1, 0, 0, 1, 1, 1, 1]],  # BPDA through the static generator
        ("dynamic-N3", "dynamic", "other", 0.1): [[0] * 8],  # a dynamic-only cell of another view: not added
        ("dynamic-N3", "dynamic", "transfer", 0.2): [[0] * 8],  # no shared attack at this budget: no ensemble row
    }
    df, csv = outcome_table(tmp_path, cells)
    df["view"] = df["attack"].map({"expected": "expected", "transfer": "transfer-static"}).fillna("bpda")
    t = paired_table(df, csv)
    ens = t[t["attack"] == "ensemble"].set_index("budget")
    assert list(ens.index) == [0.1] and set(t["attack"]) == {"ensemble", "pgd"}
    # dynamic: pgd AND expected keeps images 0, 1, 4, 5 (pgd alone: 0-5); static keeps 0-3
    assert ens.loc[0.1, "acc_a"] == 4 / 8 and ens.loc[0.1, "acc_b"] == 4 / 8
    assert (ens.loc[0.1, "only_a"], ens.loc[0.1, "only_b"]) == (2, 2)
    assert t[t["attack"] == "pgd"]["acc_b"].iloc[0] == 6 / 8

"""cnr.analysis.budget_curve: accuracy at every budget from one minimal-perturbation run, re-scored on fresh draws."""
from __future__ import annotations

import numpy as np
import pytest

from cnr.analysis.budget_curve import budget_curve, submissions_correct
from cnr.errors import InputError
from cnr.eval.outcomes import Outcomes


def outcomes(correct, success=None, pert=None) -> Outcomes:
    correct = np.array(correct, dtype=bool)
    n = correct.shape[1]
    return Outcomes(correct, np.array(success if success is not None else [True] * n, dtype=bool),
                    np.array(pert if pert is not None else [0.0] * n, dtype=np.float32))


def test_the_smallest_adversarial_counts_from_its_own_size_on_and_the_clean_image_before():
    # 4 images, 2 draws: adversarials at 0.02 / 0.04 / 0.06 / 0.1; the one at 0.04 fools only draw 0
    minimal = outcomes([[0, 0, 1, 0], [0, 1, 1, 0]], success=[1, 1, 0, 1], pert=[0.02, 0.04, 0.06, 0.1])
    clean = outcomes([[1, 1, 1, 0, 1], [1, 1, 1, 1, 1]])  # the clean cell may score more images
    assert submissions_correct(minimal, clean, 0.03).tolist() == [[0, 1, 1, 0], [0, 1, 1, 1]]
    rows = {r["budget"]: r for r in budget_curve(minimal, clean, [0.05, 0.01, 0.2])}
    assert list(rows) == [0.0, 0.01, 0.05, 0.2]
    assert rows[0.0]["accuracy"] == pytest.approx(7 / 8) and rows[0.0]["worst_accuracy"] == 0.75
    assert rows[0.01]["accuracy"] == rows[0.0]["accuracy"]  # nothing fits yet
    assert rows[0.05]["accuracy"] == pytest.approx(4 / 8) and rows[0.05]["worst_accuracy"] == 0.25
    assert rows[0.2]["accuracy"] == pytest.approx(3 / 8) and rows[0.2]["fits"] == 4 and rows[0.0]["fits"] == 0
    # the attacker's own view: image 2's adversarial failed its final check, so it stays "robust" at every budget
    assert [rows[b]["attack_view_accuracy"] for b in (0.0, 0.01, 0.05, 0.2)] == [1.0, 1.0, 0.5, 0.25]
    assert rows[0.05]["acc_lo"] < rows[0.05]["accuracy"] < rows[0.05]["acc_hi"] and rows[0.05]["n"] == 4


def test_a_deterministic_model_reads_the_same_both_ways():
    pert = [0.01, 0.03, 0.05, 0.2, 0.0]
    minimal = outcomes([[0, 0, 0, 0, 0]], success=[1, 1, 1, 1, 1], pert=pert)
    clean = outcomes([[1, 1, 1, 1, 0]])  # image 4 is wrong clean: found at distance 0
    rows = budget_curve(minimal, clean, [0.02, 0.04, 0.1, 0.5])
    assert [r["accuracy"] for r in rows] == [r["attack_view_accuracy"] for r in rows] == [0.8, 0.6, 0.4, 0.2, 0.0]


def test_mismatched_cells_are_refused():
    minimal = outcomes([[1, 1, 1]])
    with pytest.raises(InputError, match="fewer than the minimal run's 3"):
        submissions_correct(minimal, outcomes([[1, 1]]), 0.1)
    with pytest.raises(InputError, match="same samples.draws"):
        submissions_correct(minimal, outcomes([[1, 1, 1], [1, 1, 1]]), 0.1)
    with pytest.raises(InputError, match="budgets are normalized L2"):
        budget_curve(minimal, outcomes([[1, 1, 1]]), [float("nan")])

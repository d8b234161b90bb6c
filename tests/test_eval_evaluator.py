"""cnr.eval.evaluator: the run's images and models, one cell's row (pinned on the smoke profile), oblivious cells
served from the undefended attack, and the black-box cells' per-image query counts."""
from __future__ import annotations

import json

import pytest
from helpers import SMOKE_PINNED, UNDEFENDED, pgd_spec

from cnr.defenses import DefenseSpec, defense_by_name
from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import row_problem
from cnr.eval.specs import AttackSpec, Cell
from cnr.profiles import PROFILES
from cnr.run import resolve_run

SMOKE = PROFILES["smoke"]


@pytest.mark.parametrize("defense", ["none", "dynamic-N3"])
def test_a_black_box_row_has_the_median_and_largest_queries_per_image(ev, defense):
    spec = DefenseSpec("none", "none") if defense == "none" else defense_by_name(SMOKE, defense)
    square = AttackSpec("square", "square", "linf", 0.1, sample="costly", params=(("n_queries", 10),),
                        kind="black-box")
    row = ev.run_cell(Cell(spec, square))
    assert row_problem(row) is None
    # our first check, the library's initial point and 10 steps, our final check
    assert 2 <= row["queries_median"] <= row["queries_max"] <= 1 + 1 + 10 + 1
    assert row["queries_max"] * row["n"] + 1 >= row["n_forward"]


def test_a_white_box_row_has_no_query_columns(ev):
    pgd = AttackSpec("bpda-pgd", "pgd", "linf", 0.1, params=(("steps", 1),))
    row = ev.run_cell(Cell(DefenseSpec("none", "none"), pgd))
    assert row_problem(row) is None and "queries_median" not in row and "queries_max" not in row


def test_evaluator_holds_the_runs_images_and_models(run):
    small = make_evaluator(resolve_run("smoke", {"n_eval": 4, "n_costly": 6}, results_root=run.results_root))
    assert small.x.shape == (6, 1, 28, 28) and small.sizes == {"eval": 4, "costly": 6, "blackbox": 6}
    fewer = resolve_run("smoke", {"n_eval": 4, "n_costly": 6, "n_blackbox": 3}, results_root=run.results_root)
    assert fewer.profile.sample_sizes() == {"eval": 4, "costly": 6, "blackbox": 3}
    assert small.y.tolist() == [9, 2, 1, 1, 6, 1] and small.bank.qfs == (5, 10, 20, 30, 40, 60)
    assert (small.dataset, small.classifier_name, small.seed, small.draws) == ("fmnist", "fmnist-cnn", 0, 2)


def test_zero_budget_is_clean_accuracy(ev):
    clean = ev.run_cell(Cell(UNDEFENDED, AttackSpec("clean", "clean", "linf", 0.0, kind="clean")))
    zero = ev.run_cell(Cell(UNDEFENDED, pgd_spec(0.0)))
    assert zero["accuracy"] == clean["accuracy"] == 1.0 and zero["n_forward"] == 0 and clean["n"] == 16
    assert clean["pert_linf_max"] == 0.0 and clean["kind"] == "clean" and zero["kind"] == "adaptive"


def test_a_pgd_cell_on_16_images_is_pinned(ev):
    # the grid's bpda-pgd cell of dynamic-N3 at Linf 0.1, run directly: the same numbers as in the table (SMOKE_PINNED)
    pgd = pgd_spec(0.1, steps=SMOKE.attacks["pgd"]["steps"], ablation=True)
    row = ev.run_cell(Cell(defense_by_name(SMOKE, "dynamic-N3"), pgd))
    mean, worst = SMOKE_PINNED[("dynamic-N3", "bpda-pgd", "linf", 0.1)]
    assert row["accuracy"] == pytest.approx(mean, abs=1 / 16)
    assert row["worst_accuracy"] == pytest.approx(worst, abs=1 / 16)
    assert (row["n"], row["draws"], row["random_defense"], row["view"]) == (16, 2, True, "bpda")
    # one image to read the class count, then (steps + final check) x 16 forward and steps x 16 backward passes
    assert (row["n_forward"], row["n_backward"]) == (1 + 6 * 16, 5 * 16)
    assert row["pert_linf_max"] == pytest.approx(0.1, abs=1e-6)  # PGD uses the whole Linf budget
    assert (row["mode"], row["n_iter"], row["qf_lo"], row["qf_hi"], row["random_qf"], row["roles"]) == (
        "dynamic", 3, 20, 60, True, "main")
    assert (row["profile"], json.loads(row["overrides"])) == ("smoke", {})


def test_oblivious_cells_reuse_the_undefended_attack(monkeypatch, run):
    import cnr.attacks as attacks

    ev = make_evaluator(run)  # a fresh cache
    calls = []
    real = attacks.run_attack
    monkeypatch.setattr(attacks, "run_attack", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    pgd = pgd_spec(0.1, steps=3)
    oblivious = AttackSpec("oblivious-pgd", "pgd", "linf", 0.1, view="oblivious", params=(("steps", 3),))
    none = ev.run_cell(Cell(UNDEFENDED, pgd))
    for name in ("jpeg", "static-N1"):
        row = ev.run_cell(Cell(defense_by_name(SMOKE, name), oblivious))
        assert row["n_forward"] == none["n_forward"] and row["pert_l2_median"] == none["pert_l2_median"]
    assert calls == [ev.classifier]  # crafted once, on the bare classifier
    ev.run_cell(Cell(defense_by_name(SMOKE, "jpeg"), pgd))  # an adaptive cell is never served from it
    assert len(calls) == 2 and calls[1] is not ev.classifier

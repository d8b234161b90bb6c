"""cnr.eval.evaluator: the black-box cells' rows carry their per-image query counts."""
from __future__ import annotations

import pytest

from cnr.defenses import DefenseSpec, defense_by_name
from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import row_problem
from cnr.eval.specs import AttackSpec, Cell
from cnr.profiles import PROFILES
from cnr.run import resolve_run

SMOKE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def ev(tmp_path_factory):
    return make_evaluator(resolve_run("smoke", results_root=tmp_path_factory.mktemp("results")), n=8)


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

"""The convergence sweeps on the smoke profile: the table's columns, restarts that only ever help the attacker, and
the flat-from rule on a hand-made curve."""
from __future__ import annotations

import pandas as pd
import pytest

from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run
from cnr.studies.convergence import convergence, flat_from


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    ev = make_evaluator(resolve_run("smoke", results_root=tmp_path_factory.mktemp("r")))
    return convergence(ev, defenses=("dynamic-N3",), budgets=(0.1,), n=8, steps=(1, 3), eot=(1, 2),
                       restarts=(1, 3))


def test_sweeps_and_columns(table):
    assert set(table["sweep"]) == {"steps", "eot", "restarts"} and (table["n"] == 8).all()
    assert {"worst_accuracy", "worst_lo", "worst_hi", "draws", "restarts", "params"} <= set(table.columns)


def test_restarts_never_help_the_defense(table):
    r = table[table["sweep"] == "restarts"].set_index("value")["worst_accuracy"]
    assert r.loc[3] <= r.loc[1]  # the images that survive 3 restarts are a subset of those that survive the first


def test_flat_from_picks_the_first_setting_inside_the_last_interval():
    df = pd.DataFrame(dict(defense="d", budget=0.1, sweep="steps", value=[5, 10, 20, 50],
                           worst_accuracy=[0.5, 0.3, 0.22, 0.2], worst_lo=[0.4, 0.2, 0.15, 0.15],
                           worst_hi=[0.6, 0.4, 0.3, 0.27]))
    assert flat_from(df, "steps")["flat_from"].iloc[0] == 20

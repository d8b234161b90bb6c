"""The convergence sweeps on the smoke profile: the table's columns, restarts combined per image over seeds and draws
(checked against attacks run here, seed by seed), and the flat-from rule on a hand-made curve."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from cnr.attacks import run_attack
from cnr.cells.groups import group_params
from cnr.defenses import Defended, defense_by_name
from cnr.eval.evaluator import make_evaluator
from cnr.eval.scoring import score
from cnr.run import resolve_run
from cnr.studies.convergence import convergence, flat_from


@pytest.fixture(scope="module")
def ev(tmp_path_factory):
    return make_evaluator(resolve_run("smoke", results_root=tmp_path_factory.mktemp("r")))


@pytest.fixture(scope="module")
def table(ev):
    return convergence(ev, defenses=("dynamic-N3",), budgets=(0.1,), n=8, steps=(1, 3), eot=(1, 2),
                       restarts=(1, 3))


def test_sweeps_and_columns(table):
    assert set(table["sweep"]) == {"steps", "eot", "restarts"} and (table["n"] == 8).all()
    assert set(table["loss"]) == {"ce"} and "loss" not in " ".join(table["params"])  # CE rows keep their params
    assert {"worst_accuracy", "worst_lo", "worst_hi", "draws", "restarts", "params"} <= set(table.columns)


def test_restarts_keep_an_image_only_if_it_survives_every_seed_under_every_draw(table, ev):
    """The restarts' points, recomputed here: one PGD run per seed (seed, seed + 1, seed + 2) on a fresh defended
    model, each adversarial scored over the evaluator's draws, and an image kept only if all of them leave it right."""
    p = ev.run.profile
    model = Defended(defense_by_name(p, "dynamic-N3").build(ev.bank, grad="bpda", seed=ev.seed), ev.classifier)
    x, y = ev.x[:8], ev.y[:8]
    steps = group_params(p, "bpda-pgd")["steps"]
    advs = [run_attack("pgd", model, x, y, 0.1, norm="linf", seed=ev.seed + i, steps=steps).x_adv for i in range(3)]
    survives = [score(model, adv, y, ev.draws).all(0) for adv in advs]
    assert not torch.equal(advs[0], advs[1])  # another seed starts elsewhere: a restart is not a copy of the first
    worst = table[table["sweep"] == "restarts"].set_index("value")["worst_accuracy"]
    assert worst.loc[1] == survives[0].float().mean().item()
    assert worst.loc[3] == (survives[0] & survives[1] & survives[2]).float().mean().item()


def test_flat_from_picks_the_first_setting_inside_the_last_interval():
    df = pd.DataFrame(dict(defense="d", norm="linf", budget=0.1, sweep="steps", value=[5, 10, 20, 50],
                           worst_accuracy=[0.5, 0.3, 0.22, 0.2], worst_lo=[0.4, 0.2, 0.15, 0.15],
                           worst_hi=[0.6, 0.4, 0.3, 0.27]))
    assert flat_from(df, "steps")["flat_from"].iloc[0] == 20


def test_the_margin_loss_runs_every_sweep_with_it(ev):
    """Each loss gets its own sweeps; a margin point is the margin-loss PGD run here, scored over the draws."""
    t = convergence(ev, defenses=("dynamic-N3",), budgets=(0.1,), n=4, steps=(2,), eot=(1,), restarts=(1,),
                    losses=("ce", "margin"))
    assert sorted(t["loss"].unique()) == ["ce", "margin"] and len(t) == 6
    margin = t[(t["loss"] == "margin") & (t["sweep"] == "steps")].iloc[0]
    assert margin["params"] == str({"steps": 2, "loss": "margin"})
    model = Defended(defense_by_name(ev.run.profile, "dynamic-N3").build(ev.bank, grad="bpda", seed=ev.seed),
                     ev.classifier)
    adv = run_attack("pgd", model, ev.x[:4], ev.y[:4], 0.1, norm="linf", seed=ev.seed, steps=2, loss="margin").x_adv
    assert margin["worst_accuracy"] == score(model, adv, ev.y[:4], ev.draws).all(0).float().mean().item()

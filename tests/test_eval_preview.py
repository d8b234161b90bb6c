"""cnr.eval.preview: what `cnr attack` says before it runs a cell (every effective parameter, images, draws) and
its expected cost, scaled from the row of a results table that ran the same settings."""
from __future__ import annotations

import pytest
import torch

from cnr.cells.groups import attack_spec
from cnr.cells.specs import Cell
from cnr.defenses import defense_by_name
from cnr.eval.merge import load_table
from cnr.eval.preview import describe_cell, describe_cost, estimate_cost, scoring_draws
from cnr.paths import RESULTS_DIR
from cnr.progress import forward_passes
from cnr.run import resolve_run


@pytest.fixture(scope="module")
def quick():
    return resolve_run("quick", results_root=RESULTS_DIR)  # the committed tables


def _cell(run, defense="dynamic-N3", budget=0.1, params=None) -> Cell:
    return Cell(defense_by_name(run.profile, defense),
                attack_spec(run.profile, None, "eot-bpda-pgd", "linf", budget, None, params))


def test_the_estimate_is_the_committed_cell_scaled_by_n(quick):
    df = load_table(quick.robustness_csv)
    row = df[(df["defense"] == "dynamic-N3") & (df["attack"] == "eot-bpda-pgd") & (df["norm"] == "linf")
             & ((df["budget"] - 0.1).abs() < 1e-9)].iloc[0]
    cell = _cell(quick)
    draws = scoring_draws(cell, quick.profile.samples.draws)
    assert draws == 5 and scoring_draws(_cell(quick, "none"), 5) == 1
    est = estimate_cost(quick, cell, 50, draws)
    assert est.wall_s == pytest.approx(row["wall_s"] / 4)
    assert est.forward == 1 + round((row["n_forward"] - 1) / 4) + 5 * 50  # the probe, the attack, the scoring draws
    assert "this cell in results/quick/tables/robustness.csv" in est.source
    at_other = estimate_cost(quick, _cell(quick, budget=0.15), 200, draws)  # no row at 0.15: the same cell elsewhere
    assert at_other is not None and "the same cell at linf" in at_other.source
    counted = estimate_cost(quick, _cell(quick, params=["steps=3"]), 200, draws)  # no row ran 3 steps: PGD's count
    assert counted.forward == 1 + 200 * 4 * (3 + 1) + 5 * 200 and counted.wall_s != counted.wall_s  # NaN: no time
    assert "no time" in describe_cost(counted) and "about" not in describe_cost(counted)
    hsj = Cell(defense_by_name(quick.profile, "none"), attack_spec(quick.profile, None, "hsj", "l2", 0.2, None,
                                                                   ["steps=2"]))
    assert estimate_cost(quick, hsj, 10, 1) is None
    assert "no estimate" in describe_cost(None) and "about" in describe_cost(est)


def test_the_description_names_every_effective_parameter_within_100_columns(quick):
    lines = describe_cell(_cell(quick), 200, 5, "group eot-bpda-pgd")
    text = " ".join(" ".join(lines).split())
    for needle in ("eot=4", "steps=10", "random_start=True", "step_size=None", "images: 200 (sample 'costly')",
                   "scored on 5 fresh draws", "dynamic-N3, linf 0.1, bpda gradients"):
        assert needle in text, (needle, text)
    assert all(len(ln) <= 100 for line in lines for ln in line.splitlines())


def test_progress_counts_images_through_the_classifier_and_leaves_its_output_alone():
    model = torch.nn.Linear(3, 2)
    x = torch.rand(4, 3)
    with forward_passes(model, 10, "test", per_image=True):
        out = model(x)
        model(x[:2])
    assert isinstance(out, torch.Tensor) and out.shape == (4, 2)
    assert not model._forward_hooks  # the hook is removed afterwards

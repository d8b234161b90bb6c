"""cnr.studies.paper_bpda: DeepRobust's BPDA's own report and the kit's projected BPDA at the sizes it produced."""
from __future__ import annotations

import math

from cnr.attacks import run_attack
from cnr.cells.groups import group_params
from cnr.studies.paper_bpda import paper_bpda


def test_the_row_holds_its_report_and_the_kits_bpda_at_its_median_size(ev):
    settings = dict(iterations=3, step_size=0.05, target="runner-up")
    table = paper_bpda(ev, defenses=("none", "jpeg"), n=4, settings=settings)
    assert list(table["defense"]) == ["none", "jpeg"] and (table["n"] == 4).all()
    x, y = ev.x[:4], ev.y[:4]
    own = run_attack("deeprobust_bpda", ev.classifier, x, y, math.inf, "l2", seed=ev.seed, **settings)
    row = table.iloc[0]
    assert row["deeprobust_success"] == own.success.float().mean().item()
    assert row["deeprobust_l2_median"] == own.extra["output_l2"].median().item() == row["kit_budget"]
    assert row["deeprobust_accuracy"] == 1 - row["deeprobust_success"]  # the bare model: one draw, its own check
    kit = run_attack("pgd", ev.classifier, x, y, row["kit_budget"], "l2", seed=ev.seed,
                     **group_params(ev.run.profile, "bpda-pgd"))
    assert row["kit_success"] == kit.success.float().mean().item()
    assert (table["deeprobust_success_lo"] <= table["deeprobust_success"]).all()
    assert (table["kit_accuracy"] <= table["kit_acc_hi"]).all() and table["iterations"].eq(3).all()

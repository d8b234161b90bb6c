"""cnr.reporting.select: rows chosen by budget, kind and group flags, on the committed tables."""
from __future__ import annotations

import pandas as pd

from cnr.paths import RESULTS_DIR
from cnr.reporting.select import at_budget


def test_at_budget_finds_budgets_a_table_stored_to_four_decimals():
    df = pd.read_csv(RESULTS_DIR / "imagenet" / "tables" / "robustness.csv")  # 4/255 stored as 0.0157
    rows = at_budget(df, "linf", 4 / 255)
    assert len(rows) > 0 and set(rows["budget"].round(4)) == {0.0157}
    assert at_budget(df, "linf", 8 / 255)["budget"].round(4).eq(0.0314).all()  # the next budget stays apart
    assert at_budget(df, "l2", 4 / 255).empty  # the norm counts too


def test_the_imagenet_ablation_table_comes_back_from_its_four_decimal_robustness_table():
    from cnr.reporting.tables import ablation_table
    from cnr.run import resolve_run

    grid = resolve_run("imagenet").profile.grid
    tables = RESULTS_DIR / "imagenet" / "tables"
    made = ablation_table(pd.read_csv(tables / "robustness.csv"), grid.ref_linf, grid.ref_l2)
    committed = pd.read_csv(tables / "ablation.csv")
    assert made.round(4).astype(str).values.tolist() == committed.round(4).astype(str).values.tolist()

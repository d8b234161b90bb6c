"""cnr.eval.merge: a shard's rows over the table's rows."""
from __future__ import annotations

import warnings

from cnr.eval.merge import merged_rows
from cnr.eval.rows import KEY_COLUMNS, append_row, read_rows, rows_path, write_table


def _row(**over):
    row = dict(dataset="fmnist", classifier="fmnist-cnn", defense="none", attack="legacy-hsj", norm="l2",
               budget=float("inf"), params="{}", seed=0, n=20, draws=1, accuracy=0.1, acc_lo=0.03, acc_hi=0.3,
               worst_accuracy=0.1, worst_lo=0.03, worst_hi=0.3, draw_std=0.0, random_defense=False, view="bpda",
               n_forward=100, n_backward=0, pert_l2_median=0.02, pert_linf_max=0.4, wall_s=3.0, attack_s=2.9)
    row.update(over)
    return row


def test_a_column_empty_in_the_new_rows_keeps_the_tables_type_without_a_pandas_warning(tmp_path):
    out = tmp_path / "robustness.csv"
    append_row(rows_path(out, (1, 2)), _row(defense="jpeg-qf40", qf_lo=40, qf_hi=40))
    write_table(read_rows(out), out)
    rows_path(out, (1, 2)).unlink()
    append_row(rows_path(out, (2, 2)), _row(qf_lo=None, qf_hi=None))  # no QF: the new rows' columns are empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' FutureWarning on concatenating all-empty columns
        df, done = merged_rows(out)
    assert df["defense"].tolist() == ["jpeg-qf40", "none"]
    assert df["qf_lo"].dtype.kind == "f" and df["qf_lo"].iloc[0] == 40 and df["qf_lo"].isna().tolist() == [False, True]
    keys = [{k: r[k] for k in KEY_COLUMNS} for r in (_row(defense="jpeg-qf40"), _row())]
    assert all(key in done for key in keys)


def test_merging_again_never_doubles_a_row_whose_budget_needs_every_digit(tmp_path):
    """2/255 has 17 significant digits; the table must give back exactly the budget the shard's row has, or each
    merge of the shards' rows would add them again beside the table's (the imagenet profile's Linf budgets)."""
    from cnr.eval.rows import read_table

    out = tmp_path / "robustness.csv"
    rows = [_row(attack="bpda-pgd", norm="linf", budget=b) for b in (2 / 255, 4 / 255, 8 / 255)]
    for r in rows:
        append_row(rows_path(out, (1, 2)), r)
    for _ in range(3):  # each shard merges the rows finished so far into the table when it ends
        write_table(*merged_rows(out)[:1], out)
    assert read_table(out)["budget"].tolist() == [2 / 255, 4 / 255, 8 / 255]
    df, done = merged_rows(out)
    assert len(df) == 3 and all({k: r[k] for k in KEY_COLUMNS} in done for r in rows)

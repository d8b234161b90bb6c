"""cnr.eval.rows: the row store (append, dedup, torn and bad lines), the results table (truncation, bad values), and
the optional query columns, checked when present and not required of older rows."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import mentions

from cnr.errors import DataNotFoundError, InputError
from cnr.eval.rows import (
    append_row,
    read_rows,
    read_table,
    row_problem,
    rows_path,
    table_problem,
    write_table,
)
from cnr.paths import RESULTS_DIR

QUICK_TABLE = RESULTS_DIR / "quick" / "tables" / "robustness.csv"


def _quick_row(**extra):
    row = pd.read_csv(QUICK_TABLE).iloc[0].to_dict()
    row = {k: v for k, v in row.items() if not pd.isna(v) and k not in ("queries_median", "queries_max")}
    row["random_defense"], row["ablation"] = bool(row["random_defense"]), bool(row["ablation"])
    return {**row, **extra}


def test_query_columns_are_optional_and_checked(tmp_path):
    assert row_problem(_quick_row()) is None  # a row of a table written before the columns existed
    assert row_problem(_quick_row(queries_median=301.5, queries_max=302)) is None
    assert "queries_max" in row_problem(_quick_row(queries_median=3.0, queries_max=2.5))
    assert "queries_median" in row_problem(_quick_row(queries_median=-1.0, queries_max=2))
    out = tmp_path / "robustness.csv"
    append_row(rows_path(out), _quick_row(queries_median=7.0, queries_max=9))
    append_row(rows_path(out), _quick_row(budget=0.3))  # an older row beside it: the columns are empty there
    df = read_rows(out)
    assert df["queries_max"].isna().sum() == 1 and table_problem(df) is None
    write_table(df, out)
    assert read_table(out)["queries_median"].dropna().tolist() == [7.0]


HEADER = "dataset,classifier,defense,attack,norm,budget,params,seed,n,accuracy\n"


def _shipped_table():
    import pandas as pd

    from cnr.paths import RESULTS_DIR

    return pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv")


REPO = Path(__file__).resolve().parents[1]


def _row(**over):
    row = dict(dataset="fmnist", classifier="fmnist-cnn", defense="none", attack="clean", norm="linf", budget=0.0,
               params="{}", seed=0, n=500, draws=1, accuracy=0.946, acc_lo=0.92, acc_hi=0.96, worst_accuracy=0.946,
               worst_lo=0.92, worst_hi=0.96, draw_std=0.0, random_defense=False, view="bpda", n_forward=0,
               n_backward=0, pert_l2_median=0.0, pert_linf_max=0.0, wall_s=0.28, attack_s=0.0)
    row.update(over)
    return row


@pytest.mark.parametrize("text, needle", [  # where in the file, the column, and the value found
    ("dataset," + HEADER + "f,f,c,d,a,linf,0.1,{},0,5,0.5\n", ("header", "dataset", "more than once")),
    (HEADER + "f,c,d,a,linf,0.1,{},-3,5,0.5\n", ("row 1 (line 2)", "'seed'", "-3")),
    (HEADER + "f,c,d,a,linf,-inf,{},0,5,0.5\n", ("'budget'", "-inf")),
    (HEADER + "f,c,d,a,linf,0.1,{},0,5,\n", ("row 1 (line 2)", "accuracy", "empty")),
    (HEADER + "f,c,d,a,linf,0.1,{},0,2.5,0.5\n", ("'n'", "2.5")),
    (HEADER + "f,c,d,a,Linf,0.1,{},0,5,0.5\n", ("'norm'", "'Linf'")),
])
def test_results_table_values(tmp_path, text, needle):
    from cnr.eval.rows import TableError, read_table

    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(TableError) as e:
        read_table(tmp_path / "t.csv")
    assert mentions(str(e.value), (*needle, "t.csv")), str(e.value)


@pytest.mark.parametrize("column, value, needle", [  # the column and the value found
    ("accuracy", 7.5, ("'accuracy'", "7.5")),
    ("worst_accuracy", -0.1, ("'worst_accuracy'", "-0.1")),
    ("norm", "l3", ("'norm'", "'l3'")),
    ("n", -4, ("'n'", "-4")),
    ("budget", -0.1, ("'budget'", "-0.1")),
])
def test_row_store_value_ranges(tmp_path, column, value, needle):
    import json
    import warnings

    from cnr.analysis.compare import compare_tables
    from cnr.errors import InputError
    from cnr.eval.rows import RowStoreWarning, append_row, read_rows, rows_path

    good = _shipped_table().iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in good.items()}
    row = {k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}
    row["params"] = str(row.get("params", "{}"))
    bad = {**row, column: value}
    out = tmp_path / "robustness.csv"
    with pytest.raises(InputError, match="refusing to write"):
        append_row(rows_path(out), bad)
    rows_path(out).write_text(json.dumps(bad) + "\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert read_rows(out).empty
    assert any(issubclass(w.category, RowStoreWarning) and mentions(str(w.message), needle) for w in seen)
    df = _shipped_table()
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    with pytest.raises(InputError, match="row 2"):
        compare_tables(_shipped_table(), df)


def test_row_schema_matches_evaluate():
    from cnr.eval import rows as rowstore

    columns = set(pd.read_csv(QUICK_TABLE).columns)  # a table the grid wrote: every schema key is one of its columns
    assert set(rowstore.KEY_COLUMNS) <= set(rowstore.ROW_SCHEMA) <= columns


def test_rows_round_trip_with_dedup(tmp_path):
    from cnr.eval.rows import append_row, read_rows, rows_path

    out = tmp_path / "robustness.csv"
    p1, p2 = rows_path(out, (1, 2)), rows_path(out, (2, 2))
    assert p1.name == "robustness.rows-1-of-2.jsonl"
    append_row(p1, _row(accuracy=0.5))
    append_row(p1, _row(accuracy=0.6, n_forward=np.int64(7)))  # same key: the last wins
    append_row(p2, _row(budget=0.1, min_pert_l2_median=float("nan")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_rows(out)
    assert len(df) == 2 and df.loc[0, "accuracy"] == 0.6 and df.loc[0, "n_forward"] == 7
    with pytest.raises(InputError, match="refusing to write a row .*: accuracy is str"):
        append_row(p1, _row(accuracy="high"))


def test_bad_lines_are_skipped_with_one_warning_per_file(tmp_path):
    from cnr.eval.rows import RowStoreWarning, read_rows, rows_path

    out = tmp_path / "robustness.csv"
    good = json.dumps(_row()).encode()
    lines = [good, b'{"foo": 1}', b"[1, 2]", b"42", json.dumps(_row(seed="0", budget=0.1)).encode(),
             json.dumps(_row(random_defense="False", budget=0.2)).encode(), b"\xff\xfe not utf-8",
             json.dumps(_row(budget=0.3)).encode(), b'{"dataset": "fmn']  # the torn last line of a crash
    rows_path(out).write_bytes(b"\n".join(lines))
    with pytest.warns(RowStoreWarning) as rec:
        df = read_rows(out)
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert str(rows_path(out)) in msg and "skipped 7 line(s)" in msg
    for part in ("line 2: missing 25", "line 3: a JSON list", "line 4: a JSON int", "line 5: seed is str",
                 "line 6: random_defense is str", "and 2 more"):
        assert part in msg, part
    assert sorted(df["budget"]) == [0.0, 0.3]


def test_append_after_a_torn_line_repairs_the_file(tmp_path):
    from cnr.eval.rows import append_row, read_rows, rows_path

    path = rows_path(tmp_path / "t.csv")
    path.write_text(json.dumps(_row()) + "\n" + '{"dataset": "fmn')
    append_row(path, _row(budget=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_rows(tmp_path / "t.csv")) == 2  # the half row is gone, no warning any more
    path.write_text(json.dumps(_row(budget=0.2)))  # a whole row that only lost its newline is kept
    append_row(path, _row(budget=0.3))
    assert sorted(read_rows(tmp_path / "t.csv")["budget"]) == [0.2, 0.3]


def test_read_table_detects_truncation(tmp_path):
    from cnr.eval.rows import TableError, read_table, write_table

    src = pd.read_csv(QUICK_TABLE)
    folder = tmp_path / "results" / "quick" / "tables"
    csv = write_table(src, folder / "robustness.csv")
    assert len(read_table(csv)) == len(src)
    data = csv.read_bytes()
    hint = r"regenerate it with `cnr grid --profile quick`"
    cut_mid_row = data[: len(data) - 40]
    csv.write_bytes(cut_mid_row)
    want = rf"is truncated: its last row has \d+ fields, the header has {len(src.columns)}; " + hint
    with pytest.raises(TableError, match=want):
        read_table(csv)
    last_nl = data.rstrip(b"\n").rfind(b"\n")
    csv.write_bytes(data[:last_nl] + b"\n" + data[last_nl + 1:].rstrip(b"\n"))  # whole last row, no newline
    with pytest.raises(TableError, match="does not end with a newline"):
        read_table(csv)
    csv.write_bytes(b"\n".join(data.split(b"\n")[:100]) + b"\n")  # cut at a line: only the row count tells
    with pytest.raises(TableError, match=rf"is truncated: it has 99 rows, but {len(src)} were written"):
        read_table(csv)
    csv.write_bytes(b"")
    with pytest.raises(TableError, match="is empty"):
        read_table(csv)
    csv.write_bytes(data.replace(b"fmnist", b"fm\xffist", 1))
    with pytest.raises(TableError, match="is not UTF-8"):
        read_table(csv)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_table(folder / "nope.csv")
    # the shipped table, with no sidecar, passes the structural checks
    assert len(read_table(QUICK_TABLE)) == len(src)


def test_unreadable_table_is_the_kits_error_naming_the_path(tmp_path, monkeypatch):
    from cnr.errors import PathError

    path = tmp_path / "robustness.csv"
    path.write_text("a\n1\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(PathError, match=r"robustness\.csv.*Permission denied"):
        read_table(path)


def test_what_is_no_results_table_or_row_is_not_written(tmp_path):
    for frame in (pd.DataFrame(), pd.DataFrame({"defense": ["none"]})):
        with pytest.raises(InputError, match="results table to write lacks the column"):
            write_table(frame, tmp_path / "t.csv")
    with pytest.raises(InputError, match="a row is a mapping"):
        append_row(tmp_path / "r.jsonl", [("defense", "none")])
    assert not list(tmp_path.iterdir())

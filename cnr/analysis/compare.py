"""Did my run reproduce yours? Row-by-row comparison of two results tables, allowing for chance.

Rows are matched by KEY_COLUMNS. For each matched row and each of `accuracy` and `worst_accuracy`, the
counts k = round(accuracy * n) of the two tables are compared with Fisher's exact test (scipy.stats),
and the p-values of all those tests together are Holm-corrected (family-wise error <= alpha). A row
`agree`s when every corrected p-value is >= alpha; `bit_identical` when n and every k are equal.
An accuracy averaged over several draws of a random defense is treated as one binomial draw of n images,
which overstates its variance a little: the test errs towards "agree" only for those rows.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from cnr.errors import InputError
from cnr.eval.rows import KEY_COLUMNS, read_table, table_problem
from cnr.stats import holm

METRICS = ("accuracy", "worst_accuracy")
CORRECTION = "Holm"


def _load(table: pd.DataFrame | str | os.PathLike, which: str) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        df = table.copy()
    elif isinstance(table, (str, os.PathLike)):
        df = read_table(table)
    else:
        raise InputError(f"the {which} table must be a DataFrame or a CSV path, got {type(table).__name__}")
    missing = [c for c in KEY_COLUMNS + ["n", "accuracy"] if c not in df.columns]
    if missing:
        raise InputError(f"the {which} table lacks the column(s) {', '.join(missing)}; "
                         f"pass a robustness table (results/<profile>/tables/robustness.csv)")
    problem = table_problem(df)  # a CSV path was checked by read_table already; a DataFrame is checked here
    if problem:
        raise InputError(f"the {which} table's {problem}")
    return df.reset_index(drop=True)


def _norm_params(v: Any) -> str:
    if not isinstance(v, str):
        return "{}" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    try:
        return json.dumps(json.loads(v), sort_keys=True)
    except json.JSONDecodeError:
        return v


def _keys(df: pd.DataFrame, which: str) -> list[tuple]:
    """Normalized keys: budgets to the CSV's 4 decimals, params as sorted JSON, seeds as ints."""
    out = []
    for i, r in enumerate(df[KEY_COLUMNS].itertuples(index=False)):
        d = r._asdict()
        try:
            budget, seed = f"{float(d['budget']):.4f}", int(d["seed"])
        except (TypeError, ValueError):
            raise InputError(f"the {which} table's row {i + 1} has budget {d['budget']!r} and seed {d['seed']!r}; "
                             f"expected a number and an integer") from None
        out.append((str(d["dataset"]), str(d["classifier"]), str(d["defense"]), str(d["attack"]), str(d["norm"]),
                    budget, _norm_params(d["params"]), seed))
    seen: dict[tuple, int] = {}
    for i, k in enumerate(out):
        if k in seen:
            raise InputError(f"the {which} table has rows {seen[k] + 1} and {i + 1} with the same key {_label(k)}; "
                             f"deduplicate it (cnr.eval.rows.read_rows keeps the last)")
        seen[k] = i
    return out


def table_keys(df: pd.DataFrame) -> list[tuple]:
    """Each row's key as the comparison matches it (budgets to the CSV's 4 decimals, params as sorted JSON)."""
    return _keys(df, "table")


def _label(k: tuple) -> str:
    dataset, clf, defense, attack, norm, budget, params, seed = k
    extra = "" if params in ("{}", "") else f" {params}"
    return f"{dataset}/{clf} {defense} {attack} {norm} {float(budget):g}{extra} seed {seed}"


def _count(df: pd.DataFrame, i: int, col: str) -> tuple[int, int | None]:
    """(n, correct images) of one row; `_load` checked n and the accuracies against the row store's value ranges."""
    n = int(df.at[i, "n"])
    a = df.at[i, col] if col in df.columns else None
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return n, None
    return n, int(round(float(a) * n))


def _n_or_nan(n: Any) -> float:
    try:
        return float(n)
    except (TypeError, ValueError):
        return float("nan")


def compare_tables(reference: pd.DataFrame | str | os.PathLike, candidate: pd.DataFrame | str | os.PathLike,
                   alpha: float = 0.05) -> pd.DataFrame:
    """One row per key of either table: accuracies, differences, Fisher p-values (raw, Holm), bit_identical, agree."""
    from scipy.stats import fisher_exact

    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(f"alpha must be a probability in (0, 1), e.g. 0.05, got {alpha!r}")
    ref, cand = _load(reference, "reference"), _load(candidate, "candidate")
    rk, ck = _keys(ref, "reference"), _keys(cand, "candidate")
    cidx = {k: i for i, k in enumerate(ck)}
    records: list[dict[str, Any]] = []
    for i, k in enumerate(rk):
        rec: dict[str, Any] = dict(zip(KEY_COLUMNS, ref.loc[i, KEY_COLUMNS]))
        j = cidx.pop(k, None)
        if j is None:
            records.append({**rec, "status": "only in reference", "n_ref": _n_or_nan(ref.at[i, "n"])})
            continue
        rec.update(status="matched")
        identical = True
        for col in METRICS:
            n1, k1 = _count(ref, i, col)
            n2, k2 = _count(cand, j, col)
            rec.update(n_ref=n1, n_cand=n2)
            a1 = None if k1 is None else float(ref.at[i, col])
            a2 = None if k2 is None else float(cand.at[j, col])
            rec[f"{col}_ref"], rec[f"{col}_cand"] = a1, a2
            if k1 is None and k2 is None:
                continue
            if k1 is None or k2 is None:
                rec[f"{col}_diff"], rec[f"{col}_p"] = np.nan, 0.0  # present in one table only: cannot agree
                identical = False
                continue
            rec[f"{col}_diff"] = a2 - a1
            rec[f"{col}_p"] = 1.0 if (k1, n1) == (k2, n2) else float(
                fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
            identical = identical and (k1, n1) == (k2, n2)
        rec["bit_identical"] = identical
        records.append(rec)
    for j in cidx.values():
        records.append({**dict(zip(KEY_COLUMNS, cand.loc[j, KEY_COLUMNS])), "status": "only in candidate",
                        "n_cand": _n_or_nan(cand.at[j, "n"])})
    cols = KEY_COLUMNS + ["status", "n_ref", "n_cand"]
    for col in METRICS:
        cols += [f"{col}_ref", f"{col}_cand", f"{col}_diff", f"{col}_p", f"{col}_p_holm"]
    out = pd.DataFrame(records).reindex(columns=cols + ["bit_identical", "agree"])
    p_cols = [f"{col}_p" for col in METRICS]
    flat = np.array(holm(out[p_cols].to_numpy(dtype=float).ravel())).reshape(len(out), len(p_cols))
    for c, col in enumerate(METRICS):
        out[f"{col}_p_holm"] = flat[:, c]
    matched = out["status"] == "matched"
    adj = out[[f"{col}_p_holm" for col in METRICS]]
    out["agree"] = matched & (adj.isna() | (adj >= alpha)).all(axis=1)
    out["bit_identical"] = matched & out["bit_identical"].eq(True)
    out[["n_ref", "n_cand"]] = out[["n_ref", "n_cand"]].astype("Int64")
    out.attrs.update(alpha=alpha, correction=CORRECTION, test="Fisher's exact")
    return out


def _row_label(r: pd.Series) -> str:
    k = tuple(r[c] for c in KEY_COLUMNS)
    return _label((*k[:5], f"{float(k[5]):.4f}", _norm_params(k[6]), k[7]))


def _named(rows: pd.DataFrame, limit: int = 3) -> str:
    names = [_row_label(r) for _, r in rows.head(limit).iterrows()]
    return "; ".join(names) + (f"; and {len(rows) - limit} more" if len(rows) > limit else "")


def verdict(df: pd.DataFrame) -> str:
    """One line for a user: how many rows matched, are bit-identical, differ within chance, disagree, are missing."""
    if not isinstance(df, pd.DataFrame) or "status" not in df.columns or "agree" not in df.columns:
        raise InputError("verdict takes the DataFrame that compare_tables returns")
    alpha = df.attrs.get("alpha", 0.05)
    matched = df[df["status"] == "matched"]
    bit = int(matched["bit_identical"].sum())
    bad = matched[~matched["agree"].astype(bool)]
    head = f"{len(matched)} rows matched: {bit} bit-identical, {len(matched) - bit} differ, "
    if bad.empty:
        head += f"all within chance ({CORRECTION}-corrected p >= {alpha:g})"
    else:
        parts = []
        for _, r in bad.head(3).iterrows():
            col = min(METRICS, key=lambda c: r.get(f"{c}_p_holm", np.nan) if pd.notna(r.get(f"{c}_p_holm")) else 2)
            a1, a2, p = r.get(f"{col}_ref"), r.get(f"{col}_cand"), r.get(f"{col}_p_holm")
            parts.append(f"{_row_label(r)}: {col} {a1:.4f} vs {a2:.4f} (p={p:.2g})" if pd.notna(a1) and pd.notna(a2)
                         else f"{_row_label(r)}: {col} present in one table only")
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        head += f"{len(bad)} disagree beyond chance ({CORRECTION}-corrected p < {alpha:g}): {'; '.join(parts)}{more}"
    only_ref = df[df["status"] == "only in reference"]
    only_cand = df[df["status"] == "only in candidate"]
    missing = len(only_ref) + len(only_cand)
    tail = f"{missing} row{'' if missing == 1 else 's'} missing"
    if missing:
        bits = []
        if len(only_ref):
            bits.append(f"{len(only_ref)} only in the reference: {_named(only_ref)}")
        if len(only_cand):
            bits.append(f"{len(only_cand)} only in the candidate: {_named(only_cand)}")
        tail += f" ({'; '.join(bits)})"
    return f"{head}; {tail}"

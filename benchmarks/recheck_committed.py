"""Do the committed tables still come out of the code? Re-run a few cells of each and compare them row by row.

For every committed results table (results/<run>/tables/robustness.csv) the run is rebuilt from the table's own
`profile` and `overrides` columns, the cheapest cell of each of `--cells` attack labels (by the
recorded wall time) are run again into a scratch folder, and `cnr compare`
matches them to the committed rows by key. On the machine that made the table the numbers should be bit for bit
the same; elsewhere, within chance. Prints one line per cell and a verdict per table.

    python benchmarks/recheck_committed.py [--cells 3] [--runs quick imagenet study study+bank.preset=quick]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from cnr.analysis.compare import compare_tables, table_keys, verdict
from cnr.cells.groups import build_grid
from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import read_table
from cnr.grid import run_cells
from cnr.paths import RESULTS_DIR
from cnr.run import resolve_run


def committed_runs() -> list[str]:
    """Run folders under results/ that hold a committed robustness table."""
    return sorted(p.parent.parent.name for p in Path(RESULTS_DIR).glob("*/tables/robustness.csv"))


def recheck(run_name: str, cells_wanted: int, scratch: Path) -> pd.DataFrame:
    """Re-run the `cells_wanted` cheapest cells of a committed table; its compare table (one row per cell)."""
    table = read_table(Path(RESULTS_DIR) / run_name / "tables" / "robustness.csv")
    first = table.iloc[0]
    run = resolve_run(str(first["profile"]), json.loads(first["overrides"]), seed=int(first["seed"]),
                      results_root=scratch)
    assert run.name == run_name, f"{run_name}: the table's own settings resolve to {run.name}"
    cells = build_grid(run.profile)
    cell_keys = table_keys(pd.DataFrame([c.key(run.profile.data.dataset, run.profile.data.classifier, run.seed)
                                         for c in cells]))
    by_key = dict(zip(cell_keys, cells, strict=True))
    chosen, attacks = [], set()  # the cheapest cell of each attack label, cheapest labels first
    for key, attack, _ in sorted(zip(table_keys(table), table["attack"], table["wall_s"], strict=True),
                                 key=lambda row: row[2]):
        if key in by_key and attack not in attacks:
            chosen.append(by_key[key])
            attacks.add(attack)
        if len(chosen) == cells_wanted:
            break
    torch.manual_seed(run.seed)
    t0 = time.perf_counter()
    fresh = run_cells(make_evaluator(run), chosen, run.robustness_csv, resume=False)
    print(f"{run_name}: {len(chosen)} cells re-run in {time.perf_counter() - t0:.0f} s")
    cmp = compare_tables(table, fresh)
    cmp = cmp[cmp["status"] != "only in reference"]
    print(verdict(cmp))
    return cmp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=3)
    ap.add_argument("--runs", nargs="*", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="cnr-recheck-") as tmp:
        for name in args.runs or committed_runs():
            cmp = recheck(name, args.cells, Path(tmp))
            print(cmp.to_string(index=False, max_colwidth=40))


if __name__ == "__main__":
    main()

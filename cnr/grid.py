"""Run a grid: this shard's cells that are not in the table yet, resumable, optionally split over local workers."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from cnr.cells.groups import build_grid
from cnr.cells.specs import Cell
from cnr.errors import CnrError, InputError
from cnr.eval.evaluator import Evaluator, make_evaluator
from cnr.eval.identity import check_own_rows, run_identity
from cnr.eval.merge import DoneKeys, check_row_store, merged_rows, write_merged
from cnr.eval.outcomes import has_outcomes
from cnr.eval.rows import append_row, rows_path
from cnr.paths import REPO_ROOT, relative
from cnr.run import Run

# glibc hands the 10-30 MB activation buffers back to the kernel after every pass and faults them in again, which
# turns a grid worker's CPU time into system time; these thresholds keep the buffers (benchmarks/NOTES.md)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1",
              "MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def parse_shard(text: str | None) -> tuple[int, int]:
    """'2/4' -> (2, 4): this process runs every 4th cell starting at cell 2 (1-based)."""
    if text is None:
        return (1, 1)
    parts = text.split("/") if isinstance(text, str) else ()
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise InputError(f"--shard must look like i/k (e.g. 1/4), got {text!r}")
    i, k = (int(p) for p in parts)
    if not 1 <= i <= k:
        raise InputError(f"--shard i/k needs 1 <= i <= k, got {text!r}")
    return (i, k)


def shard_cells(cells: list[Cell], shard: tuple[int, int]) -> list[Cell]:
    """The cells shard i/k runs: every k-th from the i-th."""
    i, k = shard
    return [c for idx, c in enumerate(cells) if idx % k == i - 1]


def unfinished(cells: list[Cell], run: Run, out_csv: str | os.PathLike, done: DoneKeys) -> list[Cell]:
    """The cells whose row is not in the table yet or whose per-image outcomes are missing: what a grid still owes."""
    p = run.profile
    keys = [c.key(p.data.dataset, p.data.classifier, run.seed) for c in cells]
    return [c for c, key in zip(cells, keys) if key not in done or not has_outcomes(out_csv, key)]


def run_cells(evaluator: Evaluator, cells: list[Cell], out_csv: str | os.PathLike, shard: tuple[int, int] = (1, 1),
              resume: bool = True) -> pd.DataFrame:
    """Run this shard's cells that are not in the table yet; returns the merged table (written to out_csv)."""
    out_csv = Path(out_csv)
    i, k = shard
    check_row_store(out_csv, shard)
    merged, done = merged_rows(out_csv)
    check_own_rows(merged, evaluator.run, out_csv)
    done = done if resume else DoneKeys(pd.DataFrame())
    todo = unfinished(shard_cells(cells, shard), evaluator.run, out_csv, done)
    path = rows_path(out_csv, shard)
    bar = tqdm(todo, desc=f"grid {i}/{k}", unit="cell")
    for cell in bar:
        bar.set_postfix_str(f"{cell.defense.name} / {cell.attack.label} {cell.attack.norm} {cell.attack.budget:g}")
        append_row(path, evaluator.run_cell(cell, out_csv))
    return write_results(out_csv, evaluator.run, cells)


def write_results(out_csv: str | os.PathLike, run: Run | None = None, cells: list[Cell] | None = None
                  ) -> pd.DataFrame:
    """Merge the shards' rows into the table (weak attacks marked); write the per-image ensemble and the paired
    static-vs-dynamic comparison beside it, both carrying the run's identity (profile, overrides, seed).

    With the run, rows of another run are refused and rows of a defense its grid never runs are set apart (left in
    their row file, not merged)."""
    from cnr.analysis.ensemble import ensemble, mark_inconclusive
    from cnr.analysis.paired import paired_table
    from cnr.table_files import save_table

    merged, done = merged_rows(out_csv)
    identity = {}
    if run is not None:
        check_own_rows(merged, run, out_csv)
        identity = run_identity(run)
        defenses = {c.defense.name for c in (cells if cells is not None else build_grid(run.profile))}
        stray = ~merged["defense"].isin(defenses) if not merged.empty else pd.Series(dtype=bool)
        if stray.any():
            warnings.warn(f"{out_csv}: {int(stray.sum())} row(s) of defense(s) "
                          f"{', '.join(sorted(set(merged.loc[stray, 'defense'])))} that this grid never runs are "
                          f"left out of the table", UserWarning, stacklevel=2)
            merged = merged[~stray].reset_index(drop=True)
    df = mark_inconclusive(merged)
    if not df.empty:
        write_merged(df, done, out_csv)
        for name, table in (("ensemble", ensemble(df, out_csv)), ("paired", paired_table(df, out_csv))):
            if not table.empty:
                table = pd.concat([pd.DataFrame({k: [v] * len(table) for k, v in identity.items()}), table], axis=1)
                save_table(table, Path(out_csv).parent, name, floatfmt=".3f")
    return df


WORKERS_PER_CORE = 4  # each worker is a process holding its own models: beyond a few per core only memory grows


def check_workers(workers: int, cells: int) -> int:
    """A worker count this machine and this grid can use, refused (before any process starts) when not."""
    from cnr.parsing import check_int

    workers = check_int(workers, "--workers", 1)
    cap = WORKERS_PER_CORE * (os.cpu_count() or 1)
    if workers > cap:
        raise InputError(f"--workers {workers}: this machine has {os.cpu_count()} CPU cores and each worker is a "
                         f"process with its own models; use at most {cap}")
    if workers > cells:
        raise InputError(f"--workers {workers}: the grid has only {cells} cells, so {workers - cells} worker(s) "
                         f"would have nothing to do; use at most {cells}")
    return workers


def run_workers(run: Run, workers: int, resume: bool = True) -> None:
    """Split the grid over `workers` local processes of one thread each; each receives the whole run as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="cnr-run-", delete=False) as f:
        f.write(run.to_json())
    env = {**os.environ, **{k: os.environ.get(k, v) if k.startswith("MALLOC") else v for k, v in WORKER_ENV.items()}}
    cmd = [sys.executable, "-m", "cnr", "grid", "--run-json", f.name, "--workers", "1"]
    cmd += [] if resume else ["--no-resume"]
    try:
        procs = [subprocess.Popen(cmd + ["--shard", f"{i}/{workers}"], env=env, cwd=REPO_ROOT)
                 for i in range(1, workers + 1)]
        codes = [p.wait() for p in procs]
    finally:
        Path(f.name).unlink(missing_ok=True)
    if any(codes):
        raise CnrError(f"grid workers exited with {codes}; run the same command again to finish (rows are kept)")


def run_grid(run: Run, shard: str | None = None, resume: bool = True, workers: int | None = None) -> pd.DataFrame:
    """Run (this shard of) the run's grid, skipping finished rows; returns the merged table.

    `workers` > 1 (default: the profile's `grid.workers`) runs the shards 1/k..k/k as parallel processes here.
    """
    from cnr.checks import check_writable

    t0 = time.perf_counter()
    workers = run.profile.grid.workers if workers is None else workers
    out_csv = run.robustness_csv
    shard_ik = parse_shard(shard)  # everything is checked before the first folder is made
    cells = build_grid(run.profile)
    if workers > 1 and shard is None:
        check_workers(workers, len(cells))  # once, here, not in every worker
    check_writable(run.tables_dir)
    if workers > 1 and shard is None:
        run_workers(run, workers, resume)
        df = write_results(out_csv, run, cells)
        print(f"grid ({run.name}, {workers} workers): {len(df)} rows in {relative(out_csv)}, "
              f"{time.perf_counter() - t0:.0f} s")
        return df
    torch.manual_seed(run.seed)
    df = run_cells(make_evaluator(run), cells, out_csv, shard=shard_ik, resume=resume)
    print(f"grid ({run.name}, shard {shard or '1/1'}): {len(df)} rows in {relative(out_csv)}, "
          f"{time.perf_counter() - t0:.0f} s")
    return df

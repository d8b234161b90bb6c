"""Run All of the tour (notebooks/00_tour) under Papermill in its class setting (or the full one): wall time, the
kernel's CPU time, the load beside them, and each cell's share of the wall time.

On a shared machine the wall time says more about the load than about the tour: the kernel's CPU time with
OMP_NUM_THREADS=1 is what one quiet core would take (two take no longer), and each cell's share stays meaningful.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import nbformat

from cnr.paths import NOTEBOOK_DIR
from cnr.reproduce import run_notebook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="the full setting (the profile's images) instead")
    ap.add_argument("--profile", default="quick")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        params = {"profile": args.profile, "class_mode": not args.full, "results_root": str(Path(tmp) / "results")}
        load = os.getloadavg()
        t0 = time.perf_counter()
        out = run_notebook(NOTEBOOK_DIR / "00_tour.ipynb", Path(tmp) / "nb", params)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel, a child of this process, has exited
        cells = [c for c in nbformat.read(str(out), as_version=4).cells if c.cell_type == "code"]
    print(f"00_tour ({'full' if args.full else 'class'} setting, {args.profile}): Run All {wall:.1f} s wall, kernel "
          f"CPU {usage.ru_utime + usage.ru_stime:.1f} s, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, "
          f"load {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    for c in cells:
        seconds = c.metadata.get("papermill", {}).get("duration") or 0.0
        print(f"  {seconds:7.1f} s  {seconds / wall:4.0%}  {c.source.splitlines()[0][:70]}")


if __name__ == "__main__":
    main()

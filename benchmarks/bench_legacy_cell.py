"""What one cell of the legacy protocol costs: wall and CPU seconds of one (attack group, defense) cell on `--n` images,
scoring included, and the cost per image-query, from which `make legacy`'s time is estimated.

CPU seconds (this process's, one thread) are the figure to extrapolate on a shared machine, where wall time depends
on the load; a query budget below the profile's (`--queries`) keeps the measurement short, and the cost per query is
what scales (HopSkipJump and Square spend every query on a defended image that resists).

    .venv/bin/python benchmarks/bench_legacy_cell.py --group legacy-hsj --defense dynamic-N3 --n 10 --queries 1000
        [--set bank.preset=paper --set compute.precision=bf16-restorers]
"""
from __future__ import annotations

import argparse
import os
import time

from cnr.cells.groups import build_grid
from cnr.config import parse_override
from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="legacy")
    ap.add_argument("--group", default="legacy-hsj", choices=("legacy-hsj", "legacy-square", "legacy-clean"))
    ap.add_argument("--defense", default="dynamic-N3")
    ap.add_argument("--n", type=int, default=10, help="images")
    ap.add_argument("--queries", type=int, default=None, help="query budget per image (default: the profile's)")
    ap.add_argument("--budget", type=float, default=0.05, help="Square's normalized L2 budget")
    ap.add_argument("--set", action="append", default=[], help="profile override path=value (repeatable)")
    args = ap.parse_args()
    key = {"legacy-hsj": "max_queries", "legacy-square": "n_queries"}.get(args.group)
    over = dict(parse_override(i) for i in args.set)
    if key and args.queries:
        over[f"attacks.{args.group}.{key}"] = args.queries
    run = resolve_run(args.profile, over)
    cells = [c for c in build_grid(run.profile) if c.attack.label == args.group and c.defense.name == args.defense
             and (args.group != "legacy-square" or abs(c.attack.budget - args.budget) < 1e-9)]
    if not cells:
        raise SystemExit(f"no {args.group} cell on {args.defense} in profile {args.profile}")
    ev = make_evaluator(run, n=args.n)
    ev.sizes = {k: args.n for k in ev.sizes}
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    row = ev.run_cell(cells[0])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    queries = row.get("queries_median", 0.0)
    print(f"{run.name} {args.group} {args.defense} n={args.n} params={dict(cells[0].attack.params)}: "
          f"wall {wall:.1f} s, CPU {cpu:.1f} s (load {load:.1f} -> {os.getloadavg()[0]:.1f}), forward passes "
          f"{row['n_forward']}, queries median {queries:.0f}, CPU ms per image-forward "
          f"{1000 * cpu / max(row['n_forward'], 1):.2f}, accuracy {row['accuracy']:.3f}")


if __name__ == "__main__":
    main()

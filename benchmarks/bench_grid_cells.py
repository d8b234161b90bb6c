"""What one cell of a profile's grid costs: seconds per cell for each (attack, defense) kind, on a sample of images.

Runs each representative cell on `--n` images (scoring included) and extrapolates linearly to the profile's
sample size, then sums over every cell of `build_grid(profile)` by kind. Use it to size a grid before running it.

    .venv/bin/python benchmarks/bench_grid_cells.py [--profile quick] [--n 50]
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

from cnr.cells.groups import build_grid
from cnr.cells.specs import Cell
from cnr.eval.evaluator import make_evaluator
from cnr.profiles import parse_override
from cnr.run import resolve_run


def kind(cell: Cell) -> tuple[str, str]:
    """Cells that cost the same: attack label and the defense's mode and N (budgets cost alike)."""
    d = cell.defense
    return cell.attack.label, "none" if d.mode == "none" else f"{d.mode}-N{d.n_iter}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=50, help="images per timed cell")
    ap.add_argument("--only", nargs="*", default=None, help="attack labels to time (default: all)")
    ap.add_argument("--set", action="append", default=[], help="profile override field=value (repeatable)")
    args = ap.parse_args()
    run = resolve_run(args.profile, dict(parse_override(i) for i in args.set))
    p = run.profile
    cells = build_grid(p)
    ev = make_evaluator(run)
    groups: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        groups[kind(c)].append(c)
    print(f"profile {p.name}: {len(cells)} cells, {len(groups)} kinds; timing each kind on {args.n} images")
    print(f"{'attack':<22} {'defense':<12} {'cells':>5} {'s/cell@n':>9} {'s/cell':>8} {'total s':>8}")
    total = 0.0
    for (label, dname), group in sorted(groups.items()):
        if args.only and label not in args.only:
            continue
        full_n = p.sample_sizes()[group[0].attack.sample]
        ev.sizes = {k: min(args.n, v) for k, v in p.sample_sizes().items()}
        t0 = time.perf_counter()
        ev.run_cell(group[0])
        dt = time.perf_counter() - t0
        per_cell = dt * full_n / min(args.n, full_n)
        total += per_cell * len(group)
        print(f"{label:<22} {dname:<12} {len(group):>5} {dt:>9.1f} {per_cell:>8.1f} {per_cell * len(group):>8.0f}",
              flush=True)
    print(f"estimated grid time: {total:.0f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()

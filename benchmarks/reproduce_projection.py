"""How long `make reproduce`'s grids take on k workers, projected from the committed tables' per-cell `wall_s`.

Each profile's cells are dealt longest first to the least loaded worker (what the grid's shards approach); `--scale`
multiplies the committed times (e.g. 0.79: the quick cells' ratio re-measured on quiet cores, benchmarks/NOTES.md).
Prints worker-seconds per attack and the projected wall time of each grid; the notebooks and setup come on top.
`--attack-scale` asks "what if": one attack's cells at a fraction of their cost (e.g. margin-eot-bpda-pgd=0.5, the
same EOT-BPDA with half the passes per image).

    .venv/bin/python benchmarks/reproduce_projection.py [--profiles quick imagenet] [--workers 2] [--scale quick=0.79]
        [--attack-scale margin-eot-bpda-pgd=0.5]
"""
from __future__ import annotations

import argparse
import heapq

from cnr.eval.rows import read_table
from cnr.run import resolve_run


def projected_wall(seconds: list[float], workers: int) -> float:
    """The longest worker's total when cells go longest first to the least loaded worker."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="+", default=["quick", "imagenet"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", nargs="*", default=[], help="profile=factor on its committed wall_s")
    ap.add_argument("--attack-scale", nargs="*", default=[], help="attack=factor on its cells' wall_s")
    args = ap.parse_args()
    scale = {k: float(v) for k, v in (s.split("=") for s in args.scale)}
    attack_scale = {k: float(v) for k, v in (s.split("=") for s in args.attack_scale)}
    total = 0.0
    for name in args.profiles:
        df = read_table(resolve_run(name).robustness_csv)
        wall = df["wall_s"] * scale.get(name, 1.0) * df["attack"].map(attack_scale).fillna(1.0)
        by_attack = wall.groupby(df["attack"]).sum().sort_values(ascending=False)
        grid = projected_wall(wall.tolist(), args.workers)
        total += grid
        what_if = "".join(f", {a} x{f:g}" for a, f in attack_scale.items() if a in set(df["attack"]))
        print(f"{name}: {len(df)} cells, {wall.sum():,.0f} worker-s (scale {scale.get(name, 1.0):g}{what_if}); "
              f"grid on {args.workers} workers {grid:,.0f} s ({grid / 60:.0f} min)")
        for attack, s in by_attack.items():
            print(f"  {attack:<22} {s:8,.0f} worker-s")
    print(f"grids in all: {total:,.0f} s ({total / 60:.0f} min)")


if __name__ == "__main__":
    main()

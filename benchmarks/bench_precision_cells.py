"""What a profile's `compute` part buys on whole grid cells: CPU seconds and accuracies of the same cells, on the same
images, in float32 and in the profile's own setting (bf16 autocast, channels_last classifier: cnr.precision).

Run the two variants side by side, one thread each (two processes on the 2 cores):

    OMP_NUM_THREADS=1 CNR_JPEG_THREADS=1 .venv/bin/python benchmarks/bench_precision_cells.py --profile imagenet \
        --n 16 --set compute.precision=fp32 --set compute.channels_last=False &
    OMP_NUM_THREADS=1 CNR_JPEG_THREADS=1 .venv/bin/python benchmarks/bench_precision_cells.py --profile imagenet --n 16

Each cell runs once, in the order given; the first pays the process's one-time set-up (kernel choice for its shapes).
"""
from __future__ import annotations

import argparse
import time

import torch

from cnr.cells.groups import build_grid
from cnr.config import parse_override
from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="imagenet")
    ap.add_argument("--n", type=int, default=16, help="images per cell (the first of the profile's sample)")
    ap.add_argument("--defense", default="dynamic-N3")
    ap.add_argument("--budget", type=float, default=4 / 255, help="the cells' budget (Linf for the defaults)")
    ap.add_argument("--labels", nargs="+", default=["bpda-pgd", "margin-eot-bpda-pgd", "clean"])
    ap.add_argument("--set", action="append", default=[], help="profile override path=value (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = resolve_run(args.profile, dict(parse_override(i) for i in args.set))
    c = run.profile.compute
    ev = make_evaluator(run)
    ev.sizes = {k: min(v, args.n) for k, v in ev.sizes.items()}
    cells = {cell.attack.label: cell for cell in build_grid(run.profile)
             if cell.defense.name == args.defense and (cell.attack.label == "clean"
                                                       or abs(cell.attack.budget - args.budget) < 1e-9)}
    missing = [label for label in args.labels if label not in cells]
    if missing:
        raise SystemExit(f"no {', '.join(missing)} cell on {args.defense} at {args.budget:g} in {run.profile.name}")
    print(f"{run.profile.name}: precision {c.precision}, channels_last {c.channels_last}; {args.defense}, "
          f"{args.n} images, CPU seconds of one thread")
    for label in args.labels:
        t0 = time.process_time()
        row = ev.run_cell(cells[label])
        print(f"{label:<22} {row['budget']:.4f} n={row['n']:<3} accuracy {row['accuracy']:.3f} worst "
              f"{row['worst_accuracy']:.3f}  {time.process_time() - t0:7.1f} CPU s", flush=True)


if __name__ == "__main__":
    main()

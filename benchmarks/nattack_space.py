"""Why the conclusive profile's Nattack searches in pixel space: the authors' tanh space against pixel space on the
bare Fashion-MNIST classifier, the paper's population and iterations under one per-image query cap.

    python benchmarks/nattack_space.py [--n 10] [--queries 20000]
"""
from __future__ import annotations

import argparse
import time

import torch

from cnr.attacks import run_attack
from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run
from cnr.stats import wilson_interval


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--budget", type=float, default=0.1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = resolve_run("conclusive", {}, seed=0)
    ev = make_evaluator(run, n=args.n)
    for space in ("tanh", "pixel"):
        t0 = time.perf_counter()
        res = run_attack("nattack", ev.classifier, ev.x, ev.y, args.budget, norm="linf", seed=0, iterations=400,
                         population=300, max_queries=args.queries, space=space)
        kept = int((~res.success).sum())
        lo, hi = wilson_interval(kept, args.n)
        q = res.extra["queries"].double()
        print(f"Nattack {space:5s} space, Linf {args.budget:g}, 300 x 400 capped at {args.queries} queries: bare "
              f"accuracy {kept / args.n:.3f} [{lo:.3f}, {hi:.3f}] (n={args.n}, seed 0), queries median "
              f"{q.median().item():.0f} max {q.max().item():.0f}, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

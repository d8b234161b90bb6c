"""(Compress and Restore)^N speed: defense images/s for each N, against N x (JPEG + generator) timed alone.

One batch of Fashion-MNIST test images (default 256) goes through `CompressRestore(mode="dynamic")` with the shipped
bank; the reference is the sum of one `jpeg_roundtrip` (per-image QFs drawn from the same range) and one generator
forward (the bank's QF-40 restorer) on the same batch, times N. ratio = reference seconds / defense seconds: what
the QF draws, the per-image grouping over generators and the checks cost on top of the two kernels (target >= 0.9).
Rounds alternate the timed functions and each keeps its best round, so load from other processes hits both alike.

    .venv/bin/python benchmarks/bench_defense.py [--batch 256] [--ns 1 3 5] [--rounds 7]
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from cnr.data import load_fmnist
from cnr.defenses import CompressRestore
from cnr.jpeg import jpeg_roundtrip, sample_qf
from cnr.run import resolve_run
from cnr.training import load_bank


def best_seconds(fns: dict[str, Callable[[], object]], rounds: int, min_s: float = 0.2) -> dict[str, float]:
    """Best seconds per call of each function, interleaved round by round."""
    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(rounds):
        for name, fn in fns.items():
            reps, t0 = 0, time.perf_counter()
            while (dt := time.perf_counter() - t0) < min_s or reps == 0:
                fn()
                reps += 1
            best[name] = min(best[name], dt / reps)
    return best


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--ns", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--profile", default="quick")
    args = ap.parse_args()
    bank = load_bank(resolve_run(args.profile), "fmnist")
    x, _ = load_fmnist("test", limit=args.batch)
    gen = bank.generator_for(40)
    # The reference JPEG codes per-image QFs drawn like the defense's: the gray codec batches images of one QF,
    # so a single fixed QF is faster than any random-QF defense could be (shown, not used in the ratio).
    qfs = sample_qf(len(x), (20, 60), torch.Generator().manual_seed(0))
    fns: dict[str, Callable[[], object]] = {"jpeg": lambda: jpeg_roundtrip(x, qfs),
                                            "jpeg_qf40": lambda: jpeg_roundtrip(x, 40), "generator": lambda: gen(x)}
    defenses = {n: CompressRestore(bank, (20, 60), n, mode="dynamic") for n in args.ns}
    for n, d in defenses.items():
        fns[f"N={n}"] = lambda d=d: d(x)
    t = best_seconds(fns, args.rounds)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch} x 1x28x28 "
          f"Fashion-MNIST, quick bank, QF in [20, 60], best of {args.rounds} rounds")
    print(f"JPEG round trip, per-image QF in [20, 60]: {args.batch / t['jpeg']:,.0f} img/s (one QF for the whole "
          f"batch: {args.batch / t['jpeg_qf40']:,.0f}); generator: {args.batch / t['generator']:,.0f} img/s")
    print(f"{'N':>3} {'defense img/s':>14} {'N x (JPEG + gen) img/s':>23} {'ratio':>6}")
    for n in args.ns:
        ref = n * (t["jpeg"] + t["generator"])
        print(f"{n:>3} {args.batch / t[f'N={n}']:>14,.0f} {args.batch / ref:>23,.0f} {ref / t[f'N={n}']:>6.2f}")


if __name__ == "__main__":
    main()

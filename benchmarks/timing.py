"""One way to time a batched call in the benchmarks: images per CPU second, best of several rounds (a shared,
noisy machine inflates wall time, not the process's own CPU time)."""
from __future__ import annotations

import time
from collections.abc import Callable

import torch


def images_per_cpu_second(fn: Callable[[torch.Tensor], object], x: torch.Tensor, rounds: int = 3,
                          min_s: float = 0.5) -> float:
    """len(x) / the best CPU seconds of one fn(x) over `rounds` (each repeats fn until `min_s` passed); warmed up."""
    best = float("inf")
    fn(x)  # warm up
    for _ in range(rounds):
        reps, t0 = 0, time.process_time()
        while (dt := time.process_time() - t0) < min_s or reps == 0:
            fn(x)
            reps += 1
        best = min(best, dt / reps)
    return len(x) / best

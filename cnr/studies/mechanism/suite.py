"""All four mechanism measurements on one bank, each a job to run when wanted, timed."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pandas as pd
import torch
from torch import nn

from cnr.argan.bank import RestorerBank
from cnr.studies.mechanism.common import standard_defenses
from cnr.studies.mechanism.gradients import eot_alignment, gradient_cosine
from cnr.studies.mechanism.outputs import generator_divergence, smoothing

MEASUREMENTS = ("gradient_cosine", "eot_alignment", "generator_divergence", "smoothing")


def mechanism_jobs(bank: RestorerBank, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   qf_range: tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5), draws: int = 8,
                   reference: int = 32, seed: int = 0) -> dict[str, Callable[[], pd.DataFrame]]:
    """The four measurements on one bank (the grid's JPEG / static / dynamic defenses at `ns`), each a call to make
    when it is wanted, so that a run can resume measurement by measurement."""
    ds = standard_defenses(bank, qf_range, ns, seed=seed)
    ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= reference]
    return {
        "gradient_cosine": lambda: gradient_cosine(ds, classifier, x, y, draws=draws, seed=seed),
        "eot_alignment": lambda: eot_alignment(ds, classifier, x, y, ks=ks, reference=reference, seed=seed),
        "generator_divergence": lambda: generator_divergence(bank, x, seed=seed),
        "smoothing": lambda: smoothing({"none": None, **ds}, classifier, x, y, seed=seed),
    }


def timed(name: str, job: Callable[[], pd.DataFrame], n_images: int) -> tuple[pd.DataFrame, dict]:
    """One measurement and its wall-time row (what a study run records)."""
    t0 = time.perf_counter()
    table = job()
    return table, dict(measurement=name, wall_s=round(time.perf_counter() - t0, 1), n_images=n_images,
                       threads=torch.get_num_threads())


def measure_all(bank: RestorerBank, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                qf_range: tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5), draws: int = 8,
                reference: int = 32, seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The four measurements on one bank, and each one's wall time."""
    jobs = mechanism_jobs(bank, classifier, x, y, qf_range, ns, draws, reference, seed)
    tables, wall = {}, []
    for name, job in jobs.items():
        tables[name], row = timed(name, job, len(x))
        wall.append(row)
    return tables, pd.DataFrame(wall)

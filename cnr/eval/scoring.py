"""Scoring a (random) model on final adversarials: correct-or-not per image and draw, and its summary."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnr.eval.predict import predict
from cnr.stats import wilson_interval

EVAL_DRAW_BASE = 1_000_000_000  # scoring draws never coincide with the draws an attack saw


def score(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, draws: int, batch_size: int = 500) -> torch.Tensor:
    """(draws, n) bool matrix of correct predictions over fresh draws of a random model."""
    random = hasattr(model, "is_random")  # a Defended model takes draw=
    rows = [predict(model, x_adv, batch_size, draw=EVAL_DRAW_BASE + j if random else None) == y.cpu()
            for j in range(draws)]
    return torch.stack(rows)


def summarize(correct: torch.Tensor) -> dict[str, Any]:
    """Mean accuracy over draws and the worst case (an image counts only if every draw is right), with intervals."""
    draws, n = correct.shape
    k_mean = correct.double().sum().item() / draws  # exact k for one draw (float32 means drift below k/n)
    k_worst = int(correct.all(0).sum())
    lo, hi = wilson_interval(round(k_mean), n)
    wlo, whi = wilson_interval(k_worst, n)
    return dict(n=n, draws=draws, accuracy=k_mean / n, acc_lo=lo, acc_hi=hi, worst_accuracy=k_worst / n,
                worst_lo=wlo, worst_hi=whi, draw_std=correct.float().mean(1).std().item() if draws > 1 else 0.0)

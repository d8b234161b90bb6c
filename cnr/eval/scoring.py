"""Scoring a (random) model on final adversarials: correct-or-not per image and draw, and its summary."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnr.checks import check_images, check_labels, declared_classes
from cnr.errors import InputError
from cnr.parsing import EFFORT_MAX, check_int
from cnr.prediction import predict
from cnr.stats import wilson_interval

EVAL_DRAW_BASE = 1_000_000_000  # scoring draws never coincide with the draws an attack saw


def score(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, draws: int, batch_size: int = 500) -> torch.Tensor:
    """(draws, n) bool matrix of correct predictions over fresh draws of a random model."""
    draws = _checked(model, x_adv, y, draws)
    random = hasattr(model, "is_random")  # a Defended model takes draw=
    rows = [predict(model, x_adv, batch_size, draw=EVAL_DRAW_BASE + j if random else None) == y.cpu()
            for j in range(draws)]
    return torch.stack(rows)


@torch.no_grad()
def majority_vote(model: nn.Module, x: torch.Tensor, draws: int, y: torch.Tensor | None = None,
                  batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """The most-voted class over fresh draws (the scoring draws of `score`) and its vote count, per image.

    With labels `y`, the true class wins only if it has strictly more votes than every other class (a tie is
    counted as fooled), so that "fooled" and the caption naming the defended prediction always agree."""
    draws = _checked(model, x, y, draws)
    random = hasattr(model, "is_random")
    preds = torch.stack([predict(model, x, batch_size, draw=EVAL_DRAW_BASE + j if random else None)
                         for j in range(draws)])
    counts = torch.zeros(x.shape[0], int(preds.max()) + 1 if y is None else max(int(preds.max()), int(y.max())) + 1)
    counts.scatter_add_(1, preds.T, torch.ones(preds.T.shape))
    if y is not None:
        counts[torch.arange(len(y)), y.cpu()] -= 0.5
    labels = counts.argmax(1)
    votes = (preds == labels).sum(0)
    return labels, votes


def _checked(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, draws: int) -> int:
    """The scoring functions' boundary: images, labels one per image (in the model's classes) and a draw count."""
    check_images(x, name="images to score")
    if y is not None:
        check_labels(y, len(x), declared_classes(model) if isinstance(model, nn.Module) else None)
    return check_int(draws, "draws", 1, EFFORT_MAX)


def summarize(correct: torch.Tensor) -> dict[str, Any]:
    """Mean accuracy over draws and the worst case (an image counts only if every draw is right), with intervals."""
    if not isinstance(correct, torch.Tensor) or correct.dtype != torch.bool or correct.ndim != 2 or 0 in correct.shape:
        raise InputError(f"summarize takes a (draws, n) bool tensor of correct predictions with draws, n >= 1, got "
                         f"{type(correct).__name__} {getattr(correct, 'dtype', '')} "
                         f"{tuple(getattr(correct, 'shape', ()))}")
    draws, n = correct.shape
    k_mean = correct.double().sum().item() / draws  # exact k for one draw (float32 means drift below k/n)
    k_worst = int(correct.all(0).sum())
    lo, hi = wilson_interval(round(k_mean), n)
    wlo, whi = wilson_interval(k_worst, n)
    return dict(n=n, draws=draws, accuracy=k_mean / n, acc_lo=lo, acc_hi=hi, worst_accuracy=k_worst / n,
                worst_lo=wlo, worst_hi=whi, draw_std=correct.float().mean(1).std().item() if draws > 1 else 0.0)

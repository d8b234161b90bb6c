"""Scoring a (random) model on final adversarials: correct-or-not per image and draw, and its summary."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnr.checks import check_images, check_labels, declared_classes
from cnr.errors import InputError
from cnr.parsing import EFFORT_MAX, check_int
from cnr.prediction import predict
from cnr.stats import wilson_interval

EVAL_DRAW_BASE = 1_000_000_000  # scoring draws never coincide with the draws an attack saw


def draw_predictions(model: nn.Module, x: torch.Tensor, draws: int, batch_size: int = 500,
                     y: torch.Tensor | None = None) -> torch.Tensor:
    """(draws, n) predicted labels over fresh draws of a random model (the same pinned draws on every call); the
    images, the labels `y` when given, and the draw count are checked here, once."""
    draws = _checked(model, x, y, draws)
    random = hasattr(model, "is_random")  # a Defended model takes draw=
    return torch.stack([predict(model, x, batch_size, draw=EVAL_DRAW_BASE + j if random else None)
                        for j in range(draws)])


def score(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, draws: int, batch_size: int = 500) -> torch.Tensor:
    """(draws, n) bool matrix of correct predictions over fresh draws of a random model."""
    return draw_predictions(model, x_adv, draws, batch_size, y) == y.cpu()


def vote(preds: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The most-voted class per image of (draws, n) predictions, and its vote count.

    With labels `y`, the true class wins only if it has strictly more votes than every other class (a tie is
    counted as fooled), so that "fooled" and the caption naming the defended prediction always agree."""
    classes = int(preds.max()) + 1 if y is None else max(int(preds.max()), int(y.max())) + 1
    counts = torch.zeros(preds.shape[1], classes)
    counts.scatter_add_(1, preds.T, torch.ones(preds.T.shape))
    if y is not None:
        counts[torch.arange(len(y)), y.cpu()] -= 0.5
    labels = counts.argmax(1)
    return labels, (preds == labels).sum(0)


@torch.no_grad()
def majority_vote(model: nn.Module, x: torch.Tensor, draws: int, y: torch.Tensor | None = None,
                  batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """The most-voted class over fresh draws (the scoring draws of `score`) and its vote count, per image (`vote`)."""
    return vote(draw_predictions(model, x, draws, batch_size, y), y)


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


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` measured: accuracy over fresh draws as the mean, the worst case and the majority vote."""

    n: int
    draws: int  # fresh draws scored (1 for a deterministic model)
    accuracy: float  # mean over draws
    acc_ci: tuple[float, float]  # 95% Wilson interval (of the mean's rounded count)
    worst_accuracy: float  # an image counts only if every draw classifies it right
    worst_ci: tuple[float, float]
    vote_accuracy: float  # the majority over draws is right (a tie with the true class counts as fooled)
    vote_ci: tuple[float, float]
    correct: torch.Tensor  # (draws, n) bool, per draw and image

    def __str__(self) -> str:
        def show(v: float, ci: tuple[float, float]) -> str:
            return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"

        return (f"mean {show(self.accuracy, self.acc_ci)}, worst case {show(self.worst_accuracy, self.worst_ci)}, "
                f"majority vote {show(self.vote_accuracy, self.vote_ci)} (n={self.n}, {self.draws} fresh draw"
                f"{'s' if self.draws != 1 else ''}, 95% Wilson intervals)")


def evaluate(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, draws: int = 5,
             batch_size: int = 500) -> Evaluation:
    """Score images (e.g. an attack's `x_adv`) on fresh draws of a random model, as the grid scores its cells.

    The draws are pinned and never ones an attack saw (`run_attack` starts each random defense at draw 0 and counts
    up; scoring uses draws from EVAL_DRAW_BASE), so re-scoring gives the same numbers. A deterministic model is
    scored once. Costs `draws` x n forward passes of the model."""
    if hasattr(x_adv, "x_adv"):
        raise InputError("evaluate takes images; pass the attack result's images: evaluate(model, result.x_adv, y)")
    draws = check_int(draws, "draws", 1, EFFORT_MAX)
    if not isinstance(x_adv, torch.Tensor):
        raise InputError(f"evaluate takes an image tensor, got {type(x_adv).__name__}")
    random = bool(getattr(model, "is_random", False))
    preds = draw_predictions(model, x_adv, draws if random else 1, batch_size, y)
    truth = y.cpu()
    correct = preds == truth
    s = summarize(correct)
    k_vote = int((vote(preds, truth)[0] == truth).sum())
    return Evaluation(n=s["n"], draws=s["draws"], accuracy=s["accuracy"], acc_ci=(s["acc_lo"], s["acc_hi"]),
                      worst_accuracy=s["worst_accuracy"], worst_ci=(s["worst_lo"], s["worst_hi"]),
                      vote_accuracy=k_vote / s["n"], vote_ci=wilson_interval(k_vote, s["n"]), correct=correct)

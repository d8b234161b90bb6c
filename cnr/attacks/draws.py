"""Black-box queries that pay for k draws of a random model: a majority label or scores averaged over the draws.

An attacker facing a random defense can ask about one point k times and take the majority label (decision-based)
or average its loss over the draws (score-based: EOT). Each of the k copies is a model query, so an attack that
pays k per point gets k times fewer points for the same budget. The k copies go through the model as one batch:
rows are repeated and a random defense (``cnr.Defended``) gets one pinned draw per row, so every copy sees its own
QFs (the defense's QFs are a hash of draw and content, so identical rows under one draw would agree).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnr.attacks.base import margin

# the draws an attacker's k copies use: apart from the unpinned draws (counted from 0), the scoring draws
# (cnr.eval.scoring.EVAL_DRAW_BASE) and the mechanism study's (cnr.studies.mechanism.common.MECH_DRAW_BASE)
QUERY_DRAW_BASE = 3_000_000_000


def takes_draw(model: nn.Module) -> bool:
    """Whether the model (or the model inside a counting wrapper) is a random defense that takes `draw=`."""
    inner = getattr(model, "model", model)
    return bool(getattr(inner, "is_random", False))


class DrawnQueries:
    """Asks the model about each point under k draws in one batched pass; queries cost k model images each."""

    def __init__(self, model: nn.Module, k: int, first_draw: int = QUERY_DRAW_BASE):
        self.model, self.k, self.first_draw = model, k, first_draw
        self.random = takes_draw(model)
        self.passes = 0  # fresh draw numbers for each pass

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, k, classes) logits: row i under k draws (k = 1: one plain call, the model's own next draw)."""
        n, k = len(x), self.k
        if k == 1:
            return self.model(x)[:, None]
        rows = x.repeat_interleave(k, 0)
        if self.random:
            first = self.first_draw + self.passes * k
            draws = (first + torch.arange(k, dtype=torch.int64)).repeat(n)
            self.passes += 1
            out = self.model(rows, draw=draws)
        else:  # a deterministic model answers the same k times; the attacker, not knowing it, still pays
            out = self.model(rows)
        return out.view(n, k, -1)

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """The majority label over the k draws per row; ties go to the class with the higher mean probability."""
        return majority_label(self.logits(x))

    def margin_and_ce(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row logit margin z_y - max_{c != y} z_c and cross-entropy, each averaged over the k draws."""
        logits = self.logits(x)
        n, k, c = logits.shape
        flat, labels = logits.reshape(n * k, c), y.repeat_interleave(k)
        m = margin(flat, labels).view(n, k).mean(1)
        ce = F.cross_entropy(flat, labels, reduction="none").view(n, k).mean(1)
        return m, ce


def majority_label(logits: torch.Tensor) -> torch.Tensor:
    """(N,) most-voted class of (N, k, classes) logits; a tie goes to the class with the higher mean probability."""
    votes = F.one_hot(logits.argmax(2), logits.shape[2]).sum(1).to(logits.dtype)
    return (votes + 0.5 * logits.softmax(2).mean(1)).argmax(1)  # the tie-break term stays below one vote

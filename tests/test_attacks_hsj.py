"""cnr.attacks.hsj: the decision model Foolbox's HopSkipJump queries answers consistently and keeps per-image books."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnr.attacks.hsj import AnswerCache, DecisionModel
from cnr.errors import InputError


def test_the_cache_repeats_the_first_answer_for_the_same_content_and_label():
    cache = AnswerCache(4, torch.device("cpu"))
    rows = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]])
    labels = torch.tensor([1, 2])
    assert cache.consistent(rows, labels, torch.tensor([True, False])).tolist() == [True, False]
    assert cache.consistent(rows, labels, torch.tensor([False, True])).tolist() == [True, False]  # remembered
    assert cache.consistent(rows, labels + 1, torch.tensor([False, True])).tolist() == [False, True]  # other label
    nudged = rows.clone()
    nudged[0, 3] = torch.nextafter(nudged[0, 3], torch.tensor(1.0))  # one ulp: another point
    assert cache.consistent(nudged, labels, torch.tensor([False, True])).tolist() == [False, False]


class Flipping(nn.Module):
    """Says class 0 or 1 at random on every call: the worst case for an attack that re-asks about a point."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn(len(x), 2)


def test_the_decision_model_counts_per_image_and_answers_consistently():
    x = torch.rand(3, 1, 8, 8)
    decide = DecisionModel(Flipping(), x, torch.zeros(3, dtype=torch.int64), torch.full((3,), 0.5), "l2",
                           max_queries=None, stop_within_budget=False)
    first = decide.judge(x)
    assert all(torch.equal(decide.judge(x), first) for _ in range(10))
    assert decide.queries.tolist() == [11, 11, 11]
    decide.rows_of(torch.tensor([0, 2]))
    decide(x[[0, 2]])
    assert decide.queries.tolist() == [12, 11, 12]
    with pytest.raises(InputError, match="one row per image"):
        decide(x)


def test_a_stopped_image_no_longer_reaches_the_model():
    x = torch.rand(2, 1, 8, 8)
    decide = DecisionModel(Flipping(), x, torch.zeros(2, dtype=torch.int64), torch.full((2,), 0.5), "l2",
                           max_queries=3, stop_within_budget=False)
    for _ in range(5):
        decide.judge(torch.rand(2, 1, 8, 8))
    assert decide.queries.tolist() == [3, 3] and decide.stopped.all()
    assert decide.judge(x).all()  # stopped rows answer "adversarial" (so Foolbox's loops end) without a query
    assert decide.queries.tolist() == [3, 3]


class Linear(nn.Module):
    """A fixed two-class linear classifier: its boundary is a plane, so the distance past it is known exactly."""

    def __init__(self):
        super().__init__()
        self.w = torch.linspace(-1, 1, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.flatten(1) - 0.5) @ self.w
        return torch.stack([-score, score], 1)


def test_boundary_margin_steps_each_result_that_fraction_past_where_the_search_stopped():
    from cnr.attacks.hsj import hsj

    x = 0.5 + 0.05 * torch.linspace(-1, 1, 64).flip(0).reshape(1, 1, 8, 8).repeat(3, 1, 1, 1)  # class 0
    x = x + 0.01 * torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(3, dtype=torch.int64)
    model, eps = Linear(), torch.full((3,), float("inf"))
    outs = {}
    for m in (0.0, 1e-2):
        torch.manual_seed(0)
        outs[m] = hsj(model, x, y, eps, "l2", unbounded=True, steps=3, initial_gradient_eval_steps=20, init_steps=20,
                      boundary_margin=m)
    (plain, ok0, e0), (moved, ok1, e1) = outs[0.0], outs[1e-2]
    assert ok0.all() and ok1.all()
    assert e1["pert_norm"] == pytest.approx(1.01 * e0["pert_norm"], rel=1e-5)
    assert torch.allclose(moved - x, 1.01 * (plain - x), atol=1e-6)
    past = lambda a: (model(a)[:, 1] - model(a)[:, 0])  # the logit margin beyond the boundary
    assert (past(moved) > past(plain)).all() and (past(plain) > 0).all()
    assert e1["queries"].tolist() == e0["queries"].tolist()  # the step costs no query

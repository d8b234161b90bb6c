"""cnr.attacks.draws: k draws per question in one batched pass, paid k queries; Square and HopSkipJump on top."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnr.attacks import attack_params, run_attack
from cnr.attacks.base import CountingModel, margin
from cnr.attacks.draws import QUERY_DRAW_BASE, DrawnQueries, majority_label
from cnr.cells.groups import group_params
from cnr.defenses import CompressRestore, Defended
from cnr.errors import InputError

SIZE, CLASSES = 16, 10


def tiny_defended(seed: int = 0) -> Defended:
    """JPEG at a QF drawn from [5, 95] in front of a seeded linear classifier: random, fast, takes draw=."""
    torch.manual_seed(seed)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, CLASSES)).eval()
    return Defended(CompressRestore(None, (5, 95), 1, mode="jpeg"), clf).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(6, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(3))


def test_majority_label_counts_votes_and_breaks_ties_by_mean_probability():
    logits = torch.tensor([[[5.0, 0, 0], [0, 5, 0], [0, 5, 0]],  # class 1 has two votes of three
                           [[9.0, 0, 0], [0, 1, 0], [0, 0, 0]]])  # one vote each to 0 and 1 (and 0 for a tie
    logits[1, 2] = torch.tensor([0.0, 0.0, 2.0])  # one vote to 2: a three-way tie, class 0 most probable
    assert majority_label(logits).tolist() == [1, 0]


def test_per_image_draws_match_pinned_draws_and_are_checked(images):
    model = tiny_defended()
    same = model(images, draw=torch.full((len(images),), 7, dtype=torch.int64))
    assert torch.equal(same, model(images, draw=7))
    qfs = model.defense.draw_qfs(images[:1].repeat(20, 1, 1, 1), torch.arange(20))
    assert len(set(qfs.flatten().tolist())) > 5  # one point, twenty draws: many QFs
    for bad in (torch.zeros(len(images)), torch.zeros(2, dtype=torch.int64), torch.full((6,), -1)):
        with pytest.raises(InputError, match="per-image draw"):
            model(images, draw=bad)


def test_k_copies_of_a_point_go_through_in_one_pass_each_under_its_own_draw(images):
    counted = CountingModel(tiny_defended())
    queries = DrawnQueries(counted, 9)
    logits = queries.logits(images)
    assert logits.shape == (6, 9, CLASSES) and counted.n_forward == 54
    expected = torch.stack([counted.model(images, draw=QUERY_DRAW_BASE + j) for j in range(9)], 1)
    assert torch.allclose(logits, expected, atol=1e-6)  # (another batch size: another summation order)
    assert logits.std(1).amax() > 0  # the draws differ
    assert not torch.equal(queries.logits(images), logits)  # the next question: fresh draws
    m, ce = DrawnQueries(counted, 9).margin_and_ce(images, torch.zeros(6, dtype=torch.int64))
    flat = logits.flatten(0, 1)
    assert torch.allclose(m, margin(flat, torch.zeros(54, dtype=torch.int64)).view(6, 9).mean(1))
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(flat, torch.zeros(54, dtype=torch.int64),
                                                                reduction="none").view(6, 9).mean(1))


def test_a_deterministic_model_is_still_paid_k_times(images):
    clf = CountingModel(nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, CLASSES)))
    logits = DrawnQueries(clf, 3).logits(images)
    assert clf.n_forward == 18 and torch.equal(logits[:, 0], logits[:, 2])
    assert DrawnQueries(clf, 1).logits(images).shape == (6, 1, CLASSES)


def test_square_pays_k_queries_per_point_within_its_budget(images):
    model = tiny_defended()
    y = model(images, draw=0).argmax(1)
    plain = run_attack("square", model, images, y, 0.02, "linf", n_queries=60)
    voted = run_attack("square", model, images, y, 0.02, "linf", n_queries=60, draws=3)
    assert voted.n_forward == 1 + int(voted.extra["queries"].sum())
    assert plain.extra["queries"].max() == 1 + 61 + 1 and voted.extra["queries"].max() == 1 + 21 * 3 + 1
    with pytest.raises(InputError, match="cannot pay"):
        attack_params("square", n_queries=2, draws=3)


def test_hsj_asks_each_question_under_k_draws_and_stays_in_its_budget(images):
    model = tiny_defended()
    y = model(images, draw=0).argmax(1)
    fast = dict(steps=2, initial_gradient_eval_steps=10, max_gradient_eval_steps=20, init_directions=100)
    res = run_attack("hsj", model, images, y, 0.5, "l2", max_queries=200, draws=3, **fast)
    q = res.extra["queries"]
    assert q.max() <= 200 and ((q - 1) % 3 == 0).all()  # k per question, plus the final single check
    assert res.n_forward == 1 + int(q.sum())
    assert res.extra["recheck_flips"] <= res.extra["rechecks"]


def test_hsj_without_its_memory_runs_through_answers_that_flip(images):
    model = tiny_defended()
    y = model(images, draw=0).argmax(1)
    fast = dict(steps=2, initial_gradient_eval_steps=10, max_gradient_eval_steps=20, init_directions=100)
    kept = run_attack("hsj", model, images, y, float("inf"), "l2", **fast)
    fresh = run_attack("hsj", model, images, y, float("inf"), "l2", answer_cache=False, **fast)
    # with the memory, the attack re-asks about points it accepted and some fresh answers would disagree;
    # without it, only the starting points are remembered and Foolbox's asserts no longer stop the run
    assert kept.extra["recheck_flips"] > 0
    assert fresh.extra["rechecks"] < kept.extra["rechecks"]
    assert torch.isfinite(fresh.extra["pert_norm"]).any()


def test_the_opt_in_groups_set_draws_over_the_profiles_attack_settings():
    from cnr.run import resolve_run

    p = resolve_run("smoke").profile
    base = group_params(p, "hsj")
    assert group_params(p, "hsj-vote3") == {**base, "draws": 3}
    assert group_params(p, "hsj-fresh") == {**base, "answer_cache": False}
    assert group_params(p, "square-eot9") == {**group_params(p, "square"), "draws": 9}

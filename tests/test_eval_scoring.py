"""cnr.eval.scoring: accuracy over fresh, pinned draws of a random defense; mean, worst case and majority vote."""
from __future__ import annotations

import pytest
import torch

from cnr.defenses import Defended, defense_by_name
from cnr.eval.scoring import EVAL_DRAW_BASE, score, summarize
from cnr.prediction import predict
from cnr.profiles import PROFILES
from cnr.stats import wilson_interval

SMOKE = PROFILES["smoke"]


class _Scripted(torch.nn.Module):
    """A 'random model' whose prediction per draw is scripted: logits one-hot on preds[draw % len][i]."""

    is_random = True

    def __init__(self, preds: list[list[int]], classes: int = 4):
        super().__init__()
        self.preds, self.classes = preds, classes

    def forward(self, x: torch.Tensor, draw: int = 0) -> torch.Tensor:
        from cnr.eval.scoring import EVAL_DRAW_BASE

        p = torch.tensor(self.preds[(draw - EVAL_DRAW_BASE) % len(self.preds)])[: len(x)]
        return torch.nn.functional.one_hot(p, self.classes).float()


def test_summarize_mean_worst_and_intervals():
    correct = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 1]], dtype=torch.bool)  # 2 draws x 4 images
    s = summarize(correct)
    assert s["n"] == 4 and s["draws"] == 2
    assert s["accuracy"] == pytest.approx(5 / 8) and s["worst_accuracy"] == pytest.approx(2 / 4)
    # the mean's interval is Wilson at k = round(2.5) = 2 of 4; the worst case's at 2 of 4 (published values)
    assert (s["acc_lo"], s["acc_hi"]) == (pytest.approx(0.1500, abs=5e-5), pytest.approx(0.8500, abs=5e-5))
    assert (s["worst_lo"], s["worst_hi"]) == (pytest.approx(0.1500, abs=5e-5), pytest.approx(0.8500, abs=5e-5))
    assert s["draw_std"] == pytest.approx(0.1767767, abs=1e-6)  # per-draw 3/4 and 2/4, sample std
    one = summarize(torch.tensor([[True] * 7 + [False] * 3]))
    assert one["accuracy"] == one["worst_accuracy"] == pytest.approx(0.7) and one["draw_std"] == 0.0
    assert (one["acc_lo"], one["acc_hi"]) == pytest.approx(wilson_interval(7, 10))


def test_score_uses_fresh_pinned_draws_of_a_random_defense(ev):
    model = Defended(defense_by_name(SMOKE, "dynamic-N3").build(ev.bank), ev.classifier)
    x, y = ev.x[:16], ev.y[:16]
    a = score(model, x, y, 3)
    assert a.shape == (3, 16) and torch.equal(a, score(model, x, y, 3))  # pinned: re-scoring gives the same matrix
    assert model.defense.calls == 0  # scoring never advances the attack's draw counter
    for j in range(3):  # draw j of the scoring is draw EVAL_DRAW_BASE + j of the defense, never one an attack saw
        assert torch.equal(a[j], predict(model, x, draw=EVAL_DRAW_BASE + j) == y.cpu())
    bare = score(ev.classifier, x, y, 1)
    assert bare.shape == (1, 16) and bare.all()  # the shipped classifier gets the first 16 images right


def test_majority_vote_counts_a_tie_with_the_true_class_as_fooled():
    from cnr.eval.scoring import majority_vote

    # image 0: 2 votes for class 1 (true), 2 for class 3 -> tie -> fooled, named class 3
    # image 1: 3 votes for 2 (true), 1 for 0 -> kept; image 2: 3 votes for 0, true 1 -> fooled
    model = _Scripted([[1, 2, 0], [3, 2, 0], [1, 2, 0], [3, 0, 1]])
    x, y = torch.zeros(3, 1, 2, 2), torch.tensor([1, 2, 1])
    labels, votes = majority_vote(model, x, 4, y)
    assert labels.tolist() == [3, 2, 0] and votes.tolist() == [2, 3, 3]
    labels, _ = majority_vote(model, x, 4)  # without labels: the plain plurality (lowest class on a tie)
    assert labels.tolist() == [1, 2, 0]


@pytest.mark.parametrize("draws", [0, -1, 1.5])
def test_score_draws_refused(draws):
    """No draw scores nothing: torch.stack of no rows would be a traceback."""
    from cnr.errors import InputError
    from cnr.eval.scoring import majority_vote

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x, y = torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    for fn in (score, majority_vote):
        with pytest.raises(InputError, match=rf"draws.*{draws}"):
            fn(model, x, y, draws) if fn is score else fn(model, x, draws, y)


def test_evaluate_gives_mean_worst_case_and_majority_vote_over_fresh_draws():
    import cnr
    from cnr.eval.scoring import evaluate

    assert cnr.evaluate is evaluate
    # 3 images, 4 draws: image 0 right in 2 (a tie with class 3: fooled by the vote), image 1 in 3, image 2 in 1
    model = _Scripted([[1, 2, 0], [3, 2, 0], [1, 2, 0], [3, 0, 1]])
    x, y = torch.zeros(3, 1, 2, 2), torch.tensor([1, 2, 1])
    e = evaluate(model, x, y, draws=4)
    assert (e.n, e.draws) == (3, 4) and e.correct.shape == (4, 3)
    assert e.accuracy == pytest.approx(6 / 12) and e.worst_accuracy == 0.0 and e.vote_accuracy == pytest.approx(1 / 3)
    assert e.vote_ci == pytest.approx(wilson_interval(1, 3)) and e.worst_ci == pytest.approx(wilson_interval(0, 3))
    assert e.acc_ci == pytest.approx(wilson_interval(round(6 / 4), 3))  # the mean's count, rounded, as the grid's
    assert str(e).startswith("mean 0.500 [") and "worst case 0.000 [" in str(e) and "majority vote 0.333 [" in str(e)
    assert "(n=3, 4 fresh draws, 95% Wilson intervals)" in str(e)
    again = evaluate(model, x, y, draws=4)
    assert torch.equal(again.correct, e.correct)  # pinned draws: re-scoring gives the same numbers


def test_evaluate_scores_a_deterministic_model_once_and_refuses_an_attack_result():
    from cnr.attacks import run_attack
    from cnr.errors import InputError
    from cnr.eval.scoring import evaluate

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()
    x = torch.rand(6, 1, 8, 8)
    y = model(x).argmax(1)
    e = evaluate(model, x, y, draws=5)
    assert e.draws == 1 and e.accuracy == e.worst_accuracy == e.vote_accuracy == 1.0
    result = run_attack("pgd", model, x, y, 0.5, steps=2)
    with pytest.raises(InputError, match=r"evaluate\(model, result\.x_adv, y\)"):
        evaluate(model, result, y)
    with pytest.raises(InputError, match=r"labels must have shape \(6,\)"):
        evaluate(model, result.x_adv, y[:2])


@pytest.mark.parametrize("call, needle", [  # shapes, dtypes, ranges and sizes of what scoring is given
    (lambda m, x, y: score(m, x, y[:2], 1), "shape (4,)"),
    (lambda m, x, y: score(m, x, y.float(), 1), "int64"),
    (lambda m, x, y: score(m, x, y[:, None], 1), "shape (4,)"),
    (lambda m, x, y: score(m, x, y - 1, 1), "got [-1"),
    (lambda m, x, y: score(m, x, y, 10**9), "draws: expected an integer in [1, 1000000]"),
    (lambda m, x, y: score(m, x.double(), y, 1), "float32"),
    (lambda m, x, y: summarize(torch.ones(4, dtype=torch.bool)), "(draws, n) bool tensor"),
    (lambda m, x, y: summarize(torch.zeros(0, 0, dtype=torch.bool)), "(draws, n) bool tensor"),
    (lambda m, x, y: summarize(torch.rand(2, 4)), "(draws, n) bool tensor"),
])
def test_scoring_refuses_what_it_cannot_score(call, needle):
    from cnr.errors import InputError

    model, x, y = _Scripted([[0, 1, 2, 3]]), torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    with pytest.raises(InputError) as e:
        call(model, x, y)
    assert needle in str(e.value)

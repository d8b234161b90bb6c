"""HopSkipJump (Foolbox 3.3.4) behind a decision model that answers consistently, counts queries per image and, with
a query budget, stops images.

Foolbox's HopSkipJump and its starting-point search query one row per attacked image, in order, in every call, so
a model between Foolbox and the classifier can keep per-image books: ``DecisionModel`` turns the classifier into a
two-class "adversarial or not" model (Foolbox's criterion then is plain misclassification of label 0), remembers
every answer by content (HopSkipJump re-asks about points it judged adversarial and asserts the answer, which a
random defense could flip), and counts each image's queries. With ``max_queries``, an image stops once it has
spent its queries or (under a finite budget) once a query inside its budget came back adversarial, as a
query-limited attacker stops; a stopped image's rows no longer reach the classifier (they answer "adversarial",
which lets Foolbox's loops finish), and its result is the closest adversarial point it queried.

Against a random model: with ``draws`` = k each question costs k queries (one batched pass, see
cnr.attacks.draws) and is answered by the majority label. ``answer_cache=False`` drops the memory after the
starting points: every later question gets a fresh answer, including Foolbox's re-checks of points it already
accepted (its step-size search keeps re-asking until every image's proposal passes in the same round), and those
re-checks' debug asserts are compiled out, as ``python -O`` runs them, so a flip does not abort the batch.
"""
from __future__ import annotations

import functools
import inspect
import os
import warnings

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # foolbox imports GitPython, which needs git otherwise

import foolbox as fb
import torch
from torch import nn

from cnr.attacks.base import flat_norm
from cnr.attacks.draws import DrawnQueries
from cnr.attacks.foolbox_attacks import _finish, _fmodel
from cnr.errors import InputError

_MASK = (1 << 62) - 1


def _mix(h: torch.Tensor) -> torch.Tensor:
    """A splitmix64-style mixer on int64 tensors (wrapping multiplies, kept to 62 bits)."""
    h = h & _MASK
    h = ((h ^ (h >> 31)) * 0x7FB5D329728EA185) & _MASK
    h = ((h ^ (h >> 27)) * 0x1DADEF4BC2DD44D) & _MASK
    return h ^ (h >> 33)


class AnswerCache:
    """The first answer given for each (image content, label), so a point is judged the same every time it is asked.

    Content keys are a 62-bit hash of the rows' exact float32 bits, computed on the rows' device; only one key
    per row crosses to Python.
    """

    def __init__(self, features: int, device: torch.device):
        g = torch.Generator().manual_seed(0x5EED)
        self.weights = torch.randint(1, 1 << 62, (features,), generator=g, dtype=torch.int64).to(device)
        self.answers: dict[int, bool] = {}
        self.frozen = False  # answers what it remembers but learns nothing new (every new point: a fresh answer)
        self.rechecks = 0  # questions about a point already answered
        self.flips = 0  # of those, how many a fresh answer would have answered the other way

    def keys(self, rows: torch.Tensor, labels: torch.Tensor) -> list[int]:
        bits = rows.detach().float().flatten(1).view(torch.int32).to(torch.int64)
        return _mix((bits * self.weights).sum(1) ^ _mix(labels + 1)).tolist()

    def consistent(self, rows: torch.Tensor, labels: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
        """`fresh` (this query's answers, bool per row) where the point is new, the remembered answer otherwise."""
        answers, out = self.answers, []
        for k, a in zip(self.keys(rows, labels), fresh.tolist()):
            known = answers.get(k)
            if known is None:
                out.append(a)
                if not self.frozen:
                    answers[k] = a
            else:
                self.rechecks += 1
                self.flips += known != a
                out.append(known)
        return torch.tensor(out, dtype=torch.bool, device=fresh.device)


class DecisionModel(nn.Module):
    """The classifier as Foolbox sees it: two logits, "adversarial" winning, for rows that belong to `index`."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str,
                 max_queries: int | None, stop_within_budget: bool, draws: int = 1):
        super().__init__()
        self.model, self.x, self.y, self.eps, self.norm = model, x, y, eps, norm
        self.draws = DrawnQueries(model, draws)
        self.cache = AnswerCache(x[0].numel(), x.device)
        self.queries = torch.zeros(len(x), dtype=torch.int64, device=x.device)
        self.max_queries, self.stop_within_budget = max_queries, stop_within_budget
        self.stopped = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        self.best = x.clone()  # the closest adversarial point each image queried (tracked under a query budget)
        self.best_dist = torch.full((len(x),), float("inf"), device=x.device)
        self.index = torch.arange(len(x), device=x.device)
        self.training = False  # the wrapped model is in eval mode already (run_attack); Foolbox warns otherwise

    def rows_of(self, index: torch.Tensor) -> DecisionModel:
        """Calls with one row per image of `index` (the images still attacked), in order; books stay shared."""
        self.index = index
        return self

    @torch.no_grad()
    def judge(self, rows: torch.Tensor) -> torch.Tensor:
        """Whether each row is adversarial for its image (bool per row), querying only images not stopped."""
        idx = self.index
        if rows.shape[0] != len(idx):
            raise InputError(f"HopSkipJump queried {rows.shape[0]} rows for {len(idx)} images; the decision model "
                             f"needs one row per image")
        if self.max_queries is None:  # no budget: every row goes through, as one batch
            return self._ask(rows, idx)
        live = ~self.stopped[idx]
        answer = torch.ones(len(idx), dtype=torch.bool, device=rows.device)
        if live.all():
            answer = self._ask(rows, idx)
        elif live.any():
            answer[live] = self._ask(rows[live], idx[live])
        return answer

    def _ask(self, rows: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        fresh = self.draws.labels(rows) != self.y[idx]
        answer = self.cache.consistent(rows, self.y[idx], fresh)
        self.queries[idx] += self.draws.k
        if self.max_queries is not None:
            self._keep_books(rows, idx, answer)
        return answer

    def _keep_books(self, rows: torch.Tensor, idx: torch.Tensor, answer: torch.Tensor) -> None:
        delta = (rows - self.x[idx]).flatten(1)
        dist = flat_norm(delta) if self.norm == "l2" else delta.abs().amax(1)
        closer = answer & (dist < self.best_dist[idx])
        self.best_dist[idx] = torch.where(closer, dist, self.best_dist[idx])
        self.best[idx[closer]] = rows[closer].to(self.best.dtype)
        done = self.queries[idx] + self.draws.k > self.max_queries  # the next question would not fit
        if self.stop_within_budget:
            done |= closer & (dist <= self.eps[idx])
        self.stopped[idx[done]] = True

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        adversarial = self.judge(rows).float()
        return torch.stack([1 - adversarial, adversarial], 1)


@functools.cache
def _hsj_without_asserts() -> type:
    """Foolbox's HopSkipJumpAttack compiled as ``python -O`` compiles it: the same code, its debug asserts removed."""
    import foolbox.attacks.hop_skip_jump as module

    code = compile(inspect.getsource(module), module.__file__, "exec", optimize=1)
    namespace = {"__name__": module.__name__, "__package__": module.__package__, "__file__": module.__file__}
    exec(code, namespace)  # noqa: S102 (the installed Foolbox's own source)
    return namespace["HopSkipJumpAttack"]


def hsj(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *, unbounded: bool,
        steps: int = 10, initial_gradient_eval_steps: int = 100, max_gradient_eval_steps: int = 10000,
        gamma: float = 1.0, stepsize_search: str = "geometric_progression", init_steps: int = 50,
        init_directions: int = 1000, max_queries: int | None = None, draws: int = 1, answer_cache: bool = True,
        boundary_margin: float = 0.0, **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """HopSkipJump (Chen et al.), decision-based: constraint "l2" or "linf" follows `norm`.

    Images the model already gets wrong are found at distance 0 and not attacked. Starting points come
    from Foolbox's LinearSearchBlendedUniformNoiseAttack; images for which no adversarial starting point
    turns up are left out (pert_norm inf, x_adv = x, counted in extra["init_failed"]) instead of failing
    the batch. success: a fresh forward pass on the (clipped) result; pert_norm: what HSJ itself held adversarial.
    extra["queries"]: each image's model queries, first and final checks included. `max_queries` (None: Foolbox's
    full run) caps them and stops an image at its first adversarial query inside a finite budget. `draws`: model
    queries per question (majority label); `answer_cache`: remember answers past the starting points.
    extra["rechecks"] / extra["recheck_flips"]: questions about a point already answered, and how many of those a
    fresh answer contradicted (the decision noise at the points the attack re-asks about).
    `boundary_margin` m: each found point moves to x + (1 + m)(point - x), a fraction m of its distance past where the
    search stopped. Foolbox stops its binary search gamma / (d sqrt d) of the distance from the boundary (l2), which at
    224 px (d = 150,528) is finer than the classifier's float32 rounding: another batch size answers the other way.
    """
    spend = None if max_queries is None else max_queries - 1  # the final check's query is kept aside
    decide = DecisionModel(model, x, y, eps, norm, spend, stop_within_budget=not unbounded, draws=draws)
    fmodel = _fmodel(decide, x)
    raw = x.clone()
    ok = decide.judge(x)  # already wrong: found at distance 0
    todo = (~ok).nonzero().squeeze(1)
    idx = todo
    if len(todo):
        init = fb.attacks.LinearSearchBlendedUniformNoiseAttack(steps=init_steps, directions=init_directions)
        crit = fb.criteria.Misclassification(torch.zeros(len(todo), dtype=torch.int64, device=x.device))
        decide.rows_of(todo)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*failed to draw sufficient random inputs.*")
            starts = init.run(fmodel, x[todo], crit)
        started = decide.judge(starts)
        idx, starts = todo[started], starts[started]
    if len(idx) and not decide.stopped[idx].all():  # (all stopped: nothing left to query)
        ok[idx] = True
        decide.cache.frozen = not answer_cache
        attack_class = fb.attacks.HopSkipJumpAttack if answer_cache else _hsj_without_asserts()
        attack = attack_class(steps=steps, initial_gradient_eval_steps=initial_gradient_eval_steps,
                              max_gradient_eval_steps=max_gradient_eval_steps, gamma=gamma,
                              stepsize_search=stepsize_search, constraint=norm)
        # without the memory, one image at a time: Foolbox's step-size search waits until every image of the
        # batch passes in the same round, which fresh answers make rare for a batch and cheap for one image
        for part in [torch.arange(len(idx))] if answer_cache else torch.arange(len(idx)).split(1):
            crit = fb.criteria.Misclassification(torch.zeros(len(part), dtype=torch.int64, device=x.device))
            decide.rows_of(idx[part])
            raw[idx[part]] = attack.run(fmodel, x[idx[part]], crit, starting_points=starts[part]).detach()
    if max_queries is not None:  # stopped images: the closest adversarial point they queried, if any
        ok[idx] = True
        stopped = decide.stopped & ok
        ok &= ~stopped | torch.isfinite(decide.best_dist)
        raw[stopped] = torch.where(torch.isfinite(decide.best_dist[stopped])[:, None, None, None],
                                   decide.best[stopped], x[stopped])
    if boundary_margin:
        moved = ok & (raw != x).flatten(1).any(1)  # (images wrong at distance 0 stay where they are)
        raw[moved] = (x[moved] + (1 + boundary_margin) * (raw[moved] - x[moved])).clamp(0, 1)
    x_adv, success, extra = _finish(model, x, y, raw, ok, eps, norm, unbounded)
    extra["init_failed"] = int((~ok).sum())
    extra["queries"] = (decide.queries + 1).cpu()  # + the final check of _finish
    extra["rechecks"], extra["recheck_flips"] = decide.cache.rechecks, decide.cache.flips
    return x_adv, success, extra

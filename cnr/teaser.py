"""The tour's teaser (notebooks/00_tour, part 3): per image, the smallest L-inf budget that fools the bare
classifier (PGD) next to the one that fools the defended classifier (EOT-BPDA PGD), as in the paper's first figure."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnr.eval.scoring import majority_vote, score
from cnr.tour import AttackDemo, defended_predictions, pgd_bar, predictions, short_name

TEASER_BUDGETS: tuple[float, ...] = tuple(k / 255 for k in (1, 2, 4, 8, 16, 32, 64))  # Linf, geometric


@dataclass
class Teaser:
    """Per image: the smallest tried L-inf budget that fools each model and the adversarials found there."""

    x: torch.Tensor
    adv_bare: torch.Tensor
    adv_defended: torch.Tensor
    eps_bare: list[float | None]  # None: not fooled at any tried budget
    eps_defended: list[float | None]
    labels: list[str]  # three per image, for gallery.adversarial_pair
    budgets: tuple[float, ...]


def _smallest_fooling(model: nn.Module, x: torch.Tensor, y: torch.Tensor, budgets: Sequence[float], draws: int,
                      attack_kw: dict[str, Any], seed: int, what: str) -> tuple[torch.Tensor, list[float | None]]:
    """Walk the budgets up; keep each image's first adversarial whose majority prediction over the scoring draws
    is wrong (the same vote the captions name). One progress bar per tried budget, cleared when done."""
    from cnr.attacks import run_attack

    best, found = x.clone(), [None] * len(x)
    for eps in budgets:
        todo = [i for i, f in enumerate(found) if f is None]
        if not todo:
            break
        with pgd_bar(model, len(todo), attack_kw, f"teaser, {what}, L-inf {eps * 255:.0f}/255", leave=False):
            adv = run_attack("pgd", model, x[todo], y[todo], eps, norm="linf", seed=seed, **attack_kw).x_adv.detach()
        wrong = majority_vote(model, adv, draws, y[todo])[0] != y[todo].cpu()
        for j, i in enumerate(todo):
            best[i] = adv[j]  # the last tried budget is shown even when it failed
            if wrong[j]:
                found[i] = eps
    return best, found


TEASER_CAPTIONS = ("clean", "PGD, bare model", "EOT-BPDA, defended")


def _verdict(eps: float | None) -> str:
    """A second caption line when the search never fooled the model (the figure must not imply it did)."""
    return "" if eps is not None else "\nNOT fooled at any tried budget"


def teaser(demo: AttackDemo, n: int = 2, budgets: Sequence[float] = TEASER_BUDGETS, seed: int = 0) -> Teaser:
    """For the first `n` images both models classify right: the smallest budget that fools the bare classifier
    (PGD) and the defended one (EOT-BPDA PGD, fooled = its majority prediction over fresh draws is wrong)."""
    m = demo.numbers
    p_steps, e_steps, eot, draws = m["steps"], m["eot_steps"], m["eot"], m["draws"]
    with torch.no_grad():
        ok = (score(demo.model, demo.x, demo.y, 1).all(0) & score(demo.defended, demo.x, demo.y, draws).all(0))
    idx = ok.nonzero().flatten()[:n]
    if len(idx) == 0:
        idx = torch.arange(min(n, len(demo.x)))
    x, y = demo.x[idx], demo.y[idx]
    adv_b, eps_b = _smallest_fooling(demo.model, x, y, budgets, 1, dict(steps=p_steps), seed, "bare")
    adv_d, eps_d = _smallest_fooling(demo.defended, x, y, budgets, draws, dict(steps=e_steps, eot=eot), seed,
                                     "defended")
    cls = demo.classes
    bare = predictions(demo.model, adv_b, cls)
    defended = defended_predictions(demo.defended, adv_d, y, cls, draws)
    labels = []
    for i in range(len(x)):
        labels += [short_name(cls[int(y[i])]), f"{bare[i]}{_verdict(eps_b[i])}", f"{defended[i]}{_verdict(eps_d[i])}"]
    return Teaser(x, adv_b, adv_d, eps_b, eps_d, labels, tuple(budgets))


def describe_teaser(t: Teaser) -> str:
    """Per image: which budget fooled which model, in 1/255 units, from the search itself."""
    def fmt(e: float | None) -> str:
        return f"{e * 255:.0f}/255" if e is not None else f"nothing up to {t.budgets[-1] * 255:.0f}/255"

    lines = []
    for i, (b, d) in enumerate(zip(t.eps_bare, t.eps_defended)):
        ratio = f" ({d / b:.3g} times the bare model's budget)" if b and d else ""
        lines.append(f"image {i}: the bare classifier falls at L-inf {fmt(b)}, the defended one at {fmt(d)}{ratio}")
    return "\n".join(lines)

"""Square Attack (Andriushchenko et al.), the AutoAttack authors' code from pyautoattack 0.2.0.

Linf: the library's ``SquareAttack.attack_single_run`` as is (one eps for all images). L2: the
library takes one scalar eps, but the normalized L2 budget gives every image its own radius, and
the library shrinks its batch to the not-yet-fooled images inside its loop, so a per-image eps
cannot be passed in. ``PerImageL2Square`` therefore carries the library's L2 loop over with one
change, eps indexed per image alongside the batch (tests check it reproduces the library exactly
when all radii are equal). Neither rounding radii down to groups (weaker) nor one image per call
(slow on a slow model) is needed.

Differences from ``SquareAttack.perturb``: we seed the global torch RNG once per run (inside a
forked RNG state), attack only images the model gets right on a first pass, and return the
attack's best point (highest loss) for images it did not fool, rather than the clean image: on a
random defense that point may fool other draws. success is the attack's final forward pass.
"""
from __future__ import annotations

import torch
from torch import nn

from cnr.attacks.draws import DrawnQueries
from cnr.attacks.vendored.square_l2 import PerImageL2Square
from cnr.errors import InputError


class DrawnSquare(PerImageL2Square):
    """Square whose margin and loss are each point's averages over k draws of the model (EOT for a score-based
    attack); with k = 1 the library's own margin_and_loss."""

    queries: DrawnQueries

    def margin_and_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.queries.k == 1:
            return super().margin_and_loss(x, y)
        m, ce = self.queries.margin_and_ce(x, y)
        return m, (m if self.loss == "margin" else -ce)


def square(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *, seed: int,
           n_queries: int = 1000, p_init: float = 0.8, n_restarts: int = 1, loss: str = "margin",
           resc_schedule: bool = True, draws: int = 1, **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Square Attack with pyautoattack's standalone defaults (p_init 0.8 in both norms, margin loss).

    `n_queries` is the per-image budget of model queries (each restart); with `draws` = k every point the attack
    scores costs k of them (its margin and loss averaged over k draws), so it scores n_queries // k points.
    extra["queries"]: each image's model queries, the first check and each restart's final check included.
    """
    h, w = x.shape[2:]
    if norm == "l2" and min(h, w) < 5:
        raise InputError(f"square in L2 needs images of at least 5x5 px (its initial tiling), got {h}x{w}")
    attack = DrawnSquare(model, norm="Linf" if norm == "linf" else "L2", n_queries=n_queries // draws,
                              eps=float(eps.max()), p_init=p_init, n_restarts=n_restarts, seed=seed, verbose=False,
                              loss=loss, resc_schedule=resc_schedule, device=x.device)
    attack.init_hyperparam(x)
    attack.queries = DrawnQueries(model, draws)
    x_adv = x.clone()
    with torch.no_grad():
        todo = model(x).argmax(1) == y
    spent = torch.ones(len(x), dtype=torch.int64, device=x.device)
    for _ in range(n_restarts):
        idx = todo.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        attack.eps_img = eps[idx]
        queries, adv = attack.attack_single_run(x[idx], y[idx])
        with torch.no_grad():
            fooled = model(adv).argmax(1) != y[idx]
        spent[idx] += queries.to(spent) * draws + 1
        x_adv[idx] = adv  # fooled or not: the restart's best point
        todo[idx[fooled]] = False
    return x_adv, ~todo, {"queries": spent.cpu()}

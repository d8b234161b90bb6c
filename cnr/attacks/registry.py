"""The attack registry: each attack's one-batch function, default parameters and their allowed ranges, norms and kind.

Adding an attack: a function ``fn(model, x, y, eps, norm, *, unit, unbounded, seed, batch_size,
**params) -> (x_adv, success, extra)`` for one batch (``eps``: absolute per-image radii; ``unit``:
one budget unit per image, see cnr.attacks.base), registered with ``register_attack(name, AttackDef(fn, defaults))``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from cnr.attacks.autoattack import autoattack_rand
from cnr.attacks.base import NORMS
from cnr.attacks.deeprobust_bpda import SPACES, TARGETS, deeprobust_bpda
from cnr.attacks.foolbox_attacks import cw, deepfool
from cnr.attacks.hsj import hsj
from cnr.attacks.nattack import nattack
from cnr.attacks.pgd import LOSSES as PGD_LOSSES
from cnr.attacks.pgd import fgsm, pgd
from cnr.attacks.square import square
from cnr.errors import InputError, unknown_name
from cnr.parsing import FLAG, Limit, check_limits, choice_limit, count_limit, number_limit

BATCH_SIZE = 250


@dataclass(frozen=True)
class AttackDef:
    """A registered attack: its function (one batch), default params with their allowed ranges, norms, and kind."""

    fn: Callable[..., tuple[torch.Tensor, torch.Tensor, dict]]
    defaults: dict[str, Any]
    norms: tuple[str, ...] = NORMS
    kind: str = "white-box"  # white-box | black-box | minimal (minimal-perturbation, reports pert_norm)
    doc: str = ""
    limits: dict[str, Limit] = field(default_factory=dict)  # param -> allowed values, checked once in attack_params
    # rules across parameters: each takes the effective params and returns what contradicts, or None
    rules: tuple[Callable[[dict[str, Any]], str | None], ...] = ()


def _hsj_rule(p: dict[str, Any]) -> str | None:
    """HopSkipJump grows its gradient-estimate count from the initial one up to the maximum."""
    if p["max_gradient_eval_steps"] < p["initial_gradient_eval_steps"]:
        return (f"max_gradient_eval_steps={p['max_gradient_eval_steps']} is below initial_gradient_eval_steps="
                f"{p['initial_gradient_eval_steps']}; raise the maximum or lower the initial count")
    return None


def _square_rule(p: dict[str, Any]) -> str | None:
    """Square pays `draws` queries for every point it scores."""
    if p["n_queries"] < p["draws"]:
        return f"n_queries={p['n_queries']} cannot pay for one point under draws={p['draws']}; raise n_queries"
    return None


QUERY_BUDGET = Limit("int", lo=2, optional=True)  # model queries per image, first and final checks included
POSITIVE = number_limit(0, lo_open=True)  # step sizes, constants, rates: > 0 and finite
ATTACKS: dict[str, AttackDef] = {
    "pgd": AttackDef(pgd, dict(steps=40, step_size=None, eot=1, random_start=True, loss="ce"),
                     doc="PGD, EOT over K passes per step; step_size in budget units, default 2.5 * budget / steps",
                     limits=dict(steps=count_limit(), step_size=number_limit(0, lo_open=True, optional=True),
                                 eot=count_limit(), random_start=FLAG, loss=choice_limit(*PGD_LOSSES))),
    "fgsm": AttackDef(fgsm, {}, doc="one step of the full budget"),
    "deepfool": AttackDef(deepfool, dict(steps=50, overshoot=0.02, candidates=10, loss="logits"), kind="minimal",
                          doc="Foolbox L2DeepFoolAttack / LinfDeepFoolAttack",
                          limits=dict(steps=count_limit(), overshoot=number_limit(0), candidates=count_limit(2),
                                      loss=choice_limit("logits", "crossentropy"))),
    "cw": AttackDef(cw, dict(binary_steps=5, steps=100, stepsize=0.01, confidence=0.0, initial_const=1e-3,
                             abort_early=True), norms=("l2",), kind="minimal",
                    doc="Foolbox L2CarliniWagnerAttack",
                    limits=dict(binary_steps=count_limit(), steps=count_limit(), stepsize=POSITIVE,
                                confidence=number_limit(0), initial_const=POSITIVE, abort_early=FLAG)),
    "hsj": AttackDef(hsj, dict(steps=10, initial_gradient_eval_steps=100, max_gradient_eval_steps=10000, gamma=1.0,
                               stepsize_search="geometric_progression", init_steps=50, init_directions=1000,
                               max_queries=None, draws=1, answer_cache=True, boundary_margin=0.0),
                     kind="minimal", doc="Foolbox HopSkipJumpAttack, decision-based; max_queries: per-image query "
                                         "budget (None: the full run), stopping each image once adversarial; draws: "
                                         "queries per question, majority label; answer_cache: remember answers; "
                                         "boundary_margin: step each result this fraction of its distance past the "
                                         "boundary",
                     limits=dict(steps=count_limit(), initial_gradient_eval_steps=count_limit(),
                                 max_gradient_eval_steps=count_limit(), gamma=POSITIVE,
                                 stepsize_search=choice_limit("geometric_progression", "grid_search"),
                                 init_steps=count_limit(), init_directions=count_limit(),
                                 max_queries=QUERY_BUDGET, draws=count_limit(), answer_cache=FLAG,
                                 boundary_margin=number_limit(0, 0.1)),
                     rules=(_hsj_rule,)),
    "square": AttackDef(square, dict(n_queries=1000, p_init=0.8, n_restarts=1, loss="margin", resc_schedule=True,
                                     draws=1),
                        kind="black-box", doc="pyautoattack SquareAttack (score-based); n_queries: model queries per "
                                              "image; draws: queries per point, its loss averaged over them (EOT)",
                        limits=dict(n_queries=count_limit(), p_init=number_limit(0, 1, lo_open=True),
                                    n_restarts=count_limit(), loss=choice_limit("margin", "ce"), resc_schedule=FLAG,
                                    draws=count_limit()), rules=(_square_rule,)),
    "nattack": AttackDef(nattack, dict(iterations=100, population=100, sigma=0.1, lr=0.02, search_size=32,
                                       max_queries=None, space="tanh"),
                         kind="black-box", doc="NATTACK, NES in tanh space (the authors') or pixel space "
                                               "(score-based); max_queries: per-image query budget (None: "
                                               "iterations decide)",
                         limits=dict(iterations=count_limit(), population=count_limit(2, 10_000), sigma=POSITIVE,
                                     lr=POSITIVE, search_size=count_limit(), max_queries=QUERY_BUDGET,
                                     space=choice_limit("tanh", "pixel"))),
    "deeprobust_bpda": AttackDef(deeprobust_bpda, dict(iterations=10, step_size=1.0, target="true", space="pixels"),
                                 norms=("l2",), kind="minimal",
                                 doc="DeepRobust's BPDA_attack as the paper ran it (L2, unbounded, no EOT): descends "
                                     "the cross-entropy of the target label; reports the size of what it produced",
                                 limits=dict(iterations=count_limit(), step_size=POSITIVE,
                                             target=choice_limit(*TARGETS), space=choice_limit(*SPACES))),
    "autoattack_rand": AttackDef(autoattack_rand, dict(n_iter=100, eot_iter=20),
                                 doc="pyautoattack AutoAttack version='rand' (APGD-CE, APGD-DLR with EOT)",
                                 limits=dict(n_iter=count_limit(), eot_iter=count_limit())),
}
COMMON = {"batch_size": BATCH_SIZE}  # every attack takes these
COMMON_LIMITS = {"batch_size": count_limit()}


def register_attack(name: str, attack: AttackDef) -> None:
    """Add an attack to the registry (then a cell group in cnr.cells.groups puts it in the grid)."""
    if not isinstance(attack, AttackDef):
        raise InputError(f"register_attack({name!r}) takes an AttackDef, got {type(attack).__name__}")
    if not callable(attack.fn) or not all(callable(r) for r in attack.rules):
        raise InputError(f"register_attack({name!r}): the attack's fn and rules must be callable, got fn "
                         f"{type(attack.fn).__name__} {attack.fn!r:.60}")
    stray = sorted(set(attack.limits) - set(attack.defaults))
    if stray:
        raise InputError(f"register_attack({name!r}): limits for parameter(s) {', '.join(stray)} that have no default")
    check_limits(attack.defaults, attack.limits, f"attack {name!r} default")  # a default outside its own range
    ATTACKS[name] = attack


def attack_params(name: str, **params: Any) -> dict[str, Any]:
    """The effective params of an attack (defaults overridden by `params`); unknown names are an error."""
    if name not in ATTACKS:
        raise unknown_name("attack", name, ATTACKS)
    valid = {**ATTACKS[name].defaults, **COMMON}
    bad = sorted(set(params) - set(valid))
    if bad:
        raise InputError(f"unknown parameter(s) {', '.join(map(repr, bad))} for attack {name!r}; "
                         f"valid parameters: {', '.join(sorted(valid))}")
    attack = ATTACKS[name]
    eff = check_limits({**valid, **params}, {**COMMON_LIMITS, **attack.limits}, f"attack {name!r} parameter")
    for rule in attack.rules:
        clash = rule(eff)
        if clash:
            raise InputError(f"attack {name!r} parameters contradict each other: {clash}")
    return eff

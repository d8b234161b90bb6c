"""White-box, black-box and adaptive attacks behind one call: ``run_attack(name, model, x, y, budget, norm)``.

An attack knows only "a model": an nn.Module from [0, 1] NCHW images to logits, possibly random
(every call a fresh draw) and slow. Budgets: ``norm="linf"`` eps in pixels; ``norm="l2"`` the
normalized L2 ||x' - x|| / ||x|| <= budget per image (see cnr.attacks.base). ``budget=0`` returns
x; ``budget=inf`` is unbounded (minimal-perturbation attacks report ``extra["pert_norm"]``).

Counting: ``n_forward`` / ``n_backward`` count images (a batch of 250 counts 250), including the
one-image pass that reads the number of classes and the attacks' own final checks. The black-box attacks
(square, nattack, hsj) also return each image's model queries in ``extra["queries"]`` (int64, its first and final
checks included, so they sum to ``n_forward`` less that one-image pass).
``success`` is the attack's own final view; on a random model the evaluator re-scores ``x_adv``
over fresh draws. Runs are seeded (global torch RNG, restored afterwards) and batched.

Adding an attack: a function ``fn(model, x, y, eps, norm, *, unit, unbounded, seed, batch_size,
**params) -> (x_adv, success, extra)`` for one batch (``eps``: absolute per-image radii; ``unit``:
one budget unit per image, see cnr.attacks.base), registered in ATTACKS with its default params.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from cnr.attacks.autoattack import autoattack_rand
from cnr.attacks.base import NORMS, CountingModel, budget_eps, unit
from cnr.attacks.foolbox_attacks import cw, deepfool
from cnr.attacks.hsj import hsj
from cnr.attacks.nattack import nattack
from cnr.attacks.pgd import LOSSES as PGD_LOSSES
from cnr.attacks.pgd import fgsm, pgd
from cnr.attacks.square import square
from cnr.checks import check_count, check_images, check_labels, check_one_device, images_checked
from cnr.errors import InputError, unknown_name
from cnr.parsing import FLAG, Limit, check_limits, choice_limit, count_limit, number_limit, parse_seed
from cnr.eval.predict import predict

__all__ = ["ATTACKS", "AttackDef", "AttackResult", "attack_params", "register_attack", "run_attack"]

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


POSITIVE = number_limit(0, lo_open=True)  # step sizes, constants, rates: > 0 and finite
QUERY_BUDGET = Limit("int", lo=2, optional=True)  # model queries per image, first and final checks included
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
                               max_queries=None),
                     kind="minimal", doc="Foolbox HopSkipJumpAttack, decision-based; max_queries: per-image query "
                                         "budget (None: the full run), stopping each image once adversarial",
                     limits=dict(steps=count_limit(), initial_gradient_eval_steps=count_limit(),
                                 max_gradient_eval_steps=count_limit(), gamma=POSITIVE,
                                 stepsize_search=choice_limit("geometric_progression", "grid_search"),
                                 init_steps=count_limit(), init_directions=count_limit(),
                                 max_queries=QUERY_BUDGET)),
    "square": AttackDef(square, dict(n_queries=1000, p_init=0.8, n_restarts=1, loss="margin", resc_schedule=True),
                        kind="black-box", doc="pyautoattack SquareAttack (score-based)",
                        limits=dict(n_queries=count_limit(), p_init=number_limit(0, 1, lo_open=True),
                                    n_restarts=count_limit(), loss=choice_limit("margin", "ce"), resc_schedule=FLAG)),
    "nattack": AttackDef(nattack, dict(iterations=100, population=100, sigma=0.1, lr=0.02, search_size=32,
                                       max_queries=None),
                         kind="black-box", doc="NATTACK, NES in tanh space (score-based); max_queries: per-image "
                                               "query budget (None: iterations decide)",
                         limits=dict(iterations=count_limit(), population=count_limit(2), sigma=POSITIVE, lr=POSITIVE,
                                     search_size=count_limit(), max_queries=QUERY_BUDGET)),
    "autoattack_rand": AttackDef(autoattack_rand, dict(n_iter=100, eot_iter=20),
                                 doc="pyautoattack AutoAttack version='rand' (APGD-CE, APGD-DLR with EOT)",
                                 limits=dict(n_iter=count_limit(), eot_iter=count_limit())),
}
COMMON = {"batch_size": BATCH_SIZE}  # every attack takes these
COMMON_LIMITS = {"batch_size": count_limit()}


def register_attack(name: str, attack: AttackDef) -> None:
    """Add an attack to the registry (then a cell group in cnr.eval.groups puts it in the grid)."""
    if not isinstance(attack, AttackDef):
        raise InputError(f"register_attack({name!r}) takes an AttackDef, got {type(attack).__name__}")
    stray = sorted(set(attack.limits) - set(attack.defaults))
    if stray:
        raise InputError(f"register_attack({name!r}): limits for parameter(s) {', '.join(stray)} that have no default")
    check_limits(attack.defaults, attack.limits, f"attack {name!r} default")  # a default outside its own range
    ATTACKS[name] = attack


@dataclass
class AttackResult:
    """What an attack returns; `success` is the attack's own final view (the evaluator re-scores on fresh draws)."""

    x_adv: torch.Tensor
    success: torch.Tensor  # bool (N,)
    n_forward: int  # images through the model's forward pass
    n_backward: int  # images through a backward pass
    wall_s: float
    params: dict[str, Any]  # the effective params, defaults included
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    norm: str = "linf"
    budget: float = 0.0
    seed: int = 0

    @property
    def success_rate(self) -> float:
        """Fraction of images the attack itself saw misclassified."""
        return self.success.float().mean().item()


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
    return check_limits({**valid, **params}, {**COMMON_LIMITS, **attack.limits}, f"attack {name!r} parameter")


def _check_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, budget: float, attack: AttackDef,
                  name: str) -> torch.Tensor:
    """The contract checks; returns y on x's device."""
    if norm not in NORMS:
        raise unknown_name("norm", norm, NORMS)
    if norm not in attack.norms:
        raise InputError(f"attack {name!r} supports norm(s) {', '.join(attack.norms)}, not {norm!r}")
    if isinstance(budget, (bool, str)) or not isinstance(budget, (int, float)):
        raise InputError(f"budget must be a number >= 0 (inf: unbounded), got {type(budget).__name__} {budget!r}")
    budget = float(budget)
    if math.isnan(budget) or budget < 0:
        raise InputError(f"budget must be >= 0 (inf: unbounded), got {budget!r}")
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images(x, name="attack images")
    dev = check_one_device(model)
    if dev is not None and dev != x.device:
        raise InputError(f"images are on {x.device} but the model is on {dev}; move them with x.to({str(dev)!r})")
    check_labels(y, len(x))
    return y.to(x.device)


MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.modules.instancenorm._InstanceNorm,
                  nn.GroupNorm)


def _to_eval(model: nn.Module, name: str) -> None:
    """Put the model in eval mode; warn if that changes what it computes (BatchNorm, Dropout, ... in training mode).

    Wrappers such as cnr.defense.Defended are built in training mode around an eval-mode classifier,
    where the flag changes nothing, so the flag alone does not warn.
    """
    changed = sorted({type(m).__name__ for m in model.modules() if m.training and isinstance(m, MODE_DEPENDENT)})
    if changed:
        warnings.warn(f"run_attack({name!r}): the model was in training mode ({', '.join(changed)} layers); "
                      "switched it to eval mode", stacklevel=3)
    model.eval()


@contextlib.contextmanager
def _restore_counters(counters: list[tuple[nn.Module, int]]):
    try:
        yield
    finally:
        for m, calls in counters:
            m.calls = calls


def run_attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, budget: float, norm: str = "linf",
               seed: int = 0, **params: Any) -> AttackResult:
    """Run a registered attack on (x, y) within `budget` in `norm`, in batches of `batch_size` images.

    Reproducible: the global torch RNG is seeded with `seed` for the run and restored afterwards, and every random
    defense inside the model starts from draw 0 (its draw counter is put back afterwards), so two attacks on one
    reused model give what they give on fresh ones. A model in training mode is switched to eval mode (warned).
    The images' values are checked once here; the queries inside check structure only (cnr.checks.images_checked).
    """
    eff = attack_params(name, **params)
    attack = ATTACKS[name]
    seed = parse_seed(seed, "seed")
    y = _check_inputs(model, x, y, norm, budget, attack, name)
    budget = float(budget)
    batch_size = eff["batch_size"]
    batch_size = check_count(batch_size, "batch_size")
    _to_eval(model, name)
    counted = CountingModel(model).eval()
    x = x.detach()
    t0 = time.perf_counter()
    counters = [(m, m.calls) for m in model.modules() if isinstance(getattr(m, "calls", None), int)]
    devices = [x.device] if x.is_cuda else []
    xs, oks, extras = [], [], []
    # x was checked above: every query inside (the attack's own images) checks structure only
    with _restore_counters(counters), torch.random.fork_rng(devices=devices), images_checked():
        for m, _ in counters:
            m.calls = 0  # the probe below is draw 0 of every random defense, the attack starts at draw 1
        with torch.no_grad():
            probe = counted(x[:1])
        if not isinstance(probe, torch.Tensor) or probe.ndim != 2 or probe.shape[1] < 2:
            raise InputError(f"the model must return (N, classes) logits with at least 2 classes; it returned "
                             f"{tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__}")
        if not torch.isfinite(probe).all():
            raise InputError("the model returned NaN or Inf logits: no attack result would mean anything")
        num_classes = probe.shape[1]
        check_labels(y, len(x), num_classes)
        torch.manual_seed(seed)
        if budget == 0:
            xs, oks = [x.clone()], [predict(counted, x, batch_size).to(x.device) != y]
        else:
            eps = budget_eps(x, budget, norm)
            units = unit(x, norm)
            kwargs = {k: v for k, v in eff.items() if k != "batch_size"}
            for i in range(0, len(x), batch_size):
                sl = slice(i, i + batch_size)
                x_adv, ok, extra = attack.fn(counted, x[sl], y[sl], eps[sl], norm, unit=units[sl],
                                             unbounded=math.isinf(budget), seed=seed, batch_size=batch_size,
                                             **kwargs)
                xs.append(x_adv.detach())
                oks.append(ok.bool())
                extras.append(extra)
    extra: dict[str, Any] = {}
    for key in extras[0] if extras else ():
        vals = [e[key] for e in extras]
        extra[key] = torch.cat(vals) if isinstance(vals[0], torch.Tensor) else sum(vals)
    return AttackResult(x_adv=torch.cat(xs), success=torch.cat(oks), n_forward=counted.n_forward,
                        n_backward=counted.n_backward, wall_s=time.perf_counter() - t0, params=eff, extra=extra,
                        name=name, norm=norm, budget=budget, seed=seed)

"""Running a registered attack: the boundary checks on model, images, labels and budget, then seeded, batched,
counted calls of the attack's one-batch function."""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cnr.attacks.base import NORMS, CountingModel, budget_eps, check_budget, unit
from cnr.attacks.registry import ATTACKS, AttackDef, attack_params
from cnr.checks import check_images, check_labels, check_one_device, images_checked
from cnr.errors import InputError, unknown_name
from cnr.parsing import parse_seed
from cnr.prediction import predict


@dataclass
class AttackResult:
    """What an attack returns; `success` is the attack's own final view (on a random defense, the last draw it saw):
    score `x_adv` on fresh draws with `cnr.evaluate`, as the grid does."""

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


def _check_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, budget: float, attack: AttackDef,
                  name: str) -> torch.Tensor:
    """The contract checks; returns y on x's device."""
    if norm not in NORMS:
        raise unknown_name("norm", norm, NORMS)
    if norm not in attack.norms:
        raise InputError(f"attack {name!r} supports norm(s) {', '.join(attack.norms)}, not {norm!r}")
    check_budget(budget, norm)
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
    """
    eff = attack_params(name, **params)
    attack = ATTACKS[name]
    seed = parse_seed(seed, "seed")
    y = _check_inputs(model, x, y, norm, budget, attack, name)
    budget = float(budget)
    batch_size = eff["batch_size"]
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

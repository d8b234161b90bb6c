"""AutoAttack's "rand" version (APGD-CE then APGD-DLR, each with EOT) for random defenses, from pyautoattack 0.2.0.

Linf: ``AutoAttack(..., version="rand").run_standard_evaluation`` as is. L2 (normalized, so one radius
per image): AutoAttack and APGD's ``perturb`` take one scalar eps and re-select sub-batches inside,
but APGD's ``attack_single_run`` works with an eps tensor of shape (N, 1, 1, 1). So for L2 we run
the rand schedule ourselves around the library's APGD object (same settings, same seeding, same
bookkeeping as ``run_standard_evaluation``); tests check it reproduces the library with equal radii.
AutoAttack's messages go to its ``auto-attack`` logger (its checks warn there, e.g. "it seems to be a
dynamic defense", for any model whose forward pass calls a function named grad/backward); its own
verbose output is switched off.
"""
from __future__ import annotations

import sys

import torch
from pyautoattack import AutoAttack
from torch import nn

from cnr.attacks.base import view4
from cnr.errors import InputError


def _configure(aa: AutoAttack, n_iter: int, eot_iter: int) -> None:
    """Set APGD's iterations and EOT samples, recomputing the checkpoints its constructor derived from n_iter."""
    if not isinstance(n_iter, int) or n_iter < 1 or not isinstance(eot_iter, int) or eot_iter < 1:
        raise InputError(f"autoattack_rand n_iter and eot_iter must be positive integers, got {n_iter!r}, {eot_iter!r}")
    apgd = aa.apgd
    apgd.n_iter = apgd.n_iter_orig = n_iter
    apgd.n_iter_2 = max(int(0.22 * n_iter), 1)
    apgd.n_iter_min = max(int(0.06 * n_iter), 1)
    apgd.size_decr = max(int(0.03 * n_iter), 1)
    apgd.eot_iter = eot_iter


def rand_schedule_per_image(aa: AutoAttack, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, seed: int
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """run_standard_evaluation's loop for the rand version with a per-image radius: (x_adv, predicted labels)."""
    model = aa.model
    with torch.no_grad():
        y_adv = model(x).argmax(1)
    robust = y_adv == y
    x_adv = x.clone()
    for attack in aa.attacks_to_run:  # ["apgd-ce", "apgd-dlr"]
        idx = robust.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        apgd = aa.apgd
        apgd.loss = attack.split("-")[1]
        apgd.eps = view4(eps[idx])
        apgd.init_hyperparam(x[idx])
        torch.random.manual_seed(seed)
        if x.is_cuda:
            torch.cuda.random.manual_seed(seed)
        _, _, _, adv = apgd.attack_single_run(x[idx].clone(), y[idx].clone())
        with torch.no_grad():
            out = model(adv).argmax(1)
        fooled = out != y[idx]
        x_adv[idx[fooled]] = adv[fooled].detach()
        y_adv[idx[fooled]] = out[fooled]
        robust[idx[fooled]] = False
    return x_adv, y_adv


def autoattack_rand(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *,
                    seed: int, n_iter: int = 100, eot_iter: int = 20, **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """AutoAttack rand: images it does not fool come back unchanged (the library's convention)."""
    aa = AutoAttack(model, norm="Linf" if norm == "linf" else "L2", eps=float(eps.max()), version="rand",
                    device=x.device, seed=seed)
    aa.verbose = False
    _configure(aa, n_iter, eot_iter)
    if norm == "linf":
        tracer = sys.gettrace()  # its check_dynamic() ends with sys.settrace(None): keep coverage and debuggers alive
        try:
            x_adv, y_adv = aa.run_standard_evaluation(x, y, batch_size=len(x))
        finally:
            sys.settrace(tracer)
    else:
        x_adv, y_adv = rand_schedule_per_image(aa, x, y, eps, seed)
    return x_adv.detach(), y_adv != y, {}

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

from cnr.attacks.vendored.apgd_rand import configure_rand, rand_schedule_per_image


def autoattack_rand(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *,
                    seed: int, n_iter: int = 100, eot_iter: int = 20, **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """AutoAttack rand: images it does not fool come back unchanged (the library's convention)."""
    aa = AutoAttack(model, norm="Linf" if norm == "linf" else "L2", eps=float(eps.max()), version="rand",
                    device=x.device, seed=seed)
    aa.verbose = False
    configure_rand(aa, n_iter, eot_iter)
    if norm == "linf":
        tracer = sys.gettrace()  # its check_dynamic() ends with sys.settrace(None): keep coverage and debuggers alive
        try:
            x_adv, y_adv = aa.run_standard_evaluation(x, y, batch_size=len(x))
        finally:
            sys.settrace(tracer)
    else:
        x_adv, y_adv = rand_schedule_per_image(aa, x, y, eps, seed)
    return x_adv.detach(), y_adv != y, {}

"""AutoAttack's "rand" schedule (APGD-CE then APGD-DLR with EOT) with a per-image radius: vendored from
pyautoattack 0.2.0 (`AutoAttack.run_standard_evaluation` with version="rand"), the AutoAttack authors' code, run
around the library's own APGD objects, whose `attack_single_run` accepts an (N, 1, 1, 1) eps tensor.

Same settings, seeding and bookkeeping as `run_standard_evaluation`; tests check it reproduces the library when
all radii are equal.
"""
from __future__ import annotations

import torch
from pyautoattack import AutoAttack

from cnr.attacks.base import view4


def configure_rand(aa: AutoAttack, n_iter: int, eot_iter: int) -> None:
    """Set APGD's iterations and EOT samples, recomputing the checkpoints its constructor derived from n_iter."""
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

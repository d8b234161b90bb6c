"""PGD (Madry et al.) and FGSM in Linf and normalized L2, with per-image radii and EOT over a random model.

The attack is plain autograd on the model: how the gradient gets through a defense (BPDA, a
differentiable surrogate, the identity) is the model's business (see cnr.defense).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnr.attacks.base import flat_norm, margin, project, view4

LOSSES = ("ce", "margin")


def _loss(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-image loss the attack ascends."""
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    return -margin(logits, y)


def _random_start(x: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """A uniform point of the Linf box, or a random direction at a uniform radius of the L2 ball."""
    e = view4(eps)
    if norm == "linf":
        delta = (torch.rand_like(x) * 2 - 1) * e
    else:
        d = torch.randn_like(x)
        d = d / view4(flat_norm(d)).clamp_min(1e-12)
        delta = d * e * view4(torch.rand(x.shape[0], device=x.device, dtype=x.dtype))
    return project(x + delta, x, eps, norm)


def _eot_pass(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, eot: int, loss: str,
              need_grad: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Mean gradient over `eot` passes (None without gradient) and the mean softmax of those same passes."""
    grad = torch.zeros_like(x_adv) if need_grad else None
    probs = 0.0
    for _ in range(eot):
        if need_grad:
            xa = x_adv.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                logits = model(xa)
                value = _loss(logits, y, loss).sum()
            grad += torch.autograd.grad(value, [xa])[0]
        else:
            with torch.no_grad():
                logits = model(x_adv)
        probs = probs + logits.detach().float().softmax(1)
    return (grad / eot if need_grad else None), probs / eot


def run_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *, steps: int,
            alpha: torch.Tensor, eot: int, random_start: bool, loss: str
            ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The loop: `steps` ascent steps of absolute per-image size `alpha`, tracking the last iterate that fooled.

    Iterates x_0 (start) .. x_steps; x_0..x_{steps-1} are each scored on the passes that computed their
    gradient, x_steps on `eot` extra forward passes. An image succeeds if any iterate was misclassified
    (by the mean softmax over its `eot` passes); it gets back the last such iterate, else x_steps.
    """
    a = view4(alpha)
    x_adv = _random_start(x, eps, norm) if random_start else x.clone()
    best, fooled = x_adv.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for t in range(steps + 1):
        last = t == steps
        grad, probs = _eot_pass(model, x_adv, y, eot, loss, need_grad=not last)
        wrong = probs.argmax(1) != y
        best[wrong], fooled = x_adv[wrong], fooled | wrong
        if last:
            break
        if norm == "linf":
            step = grad.sign()
        else:
            step = grad / view4(flat_norm(grad)).clamp_min(1e-12)
        x_adv = project(x_adv.detach() + a * step, x, eps, norm)
    x_out = torch.where(view4(fooled), best, x_adv)
    return x_out.detach(), fooled, {}


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *, unit: torch.Tensor,
        steps: int = 40, step_size: float | None = None, eot: int = 1, random_start: bool = True,
        loss: str = "ce", **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """PGD; `step_size` in budget units (pixels in Linf, a fraction of ||x|| in L2), default 2.5 * budget / steps."""
    alpha = 2.5 * eps / steps if step_size is None else step_size * unit
    return run_pgd(model, x, y, eps, norm, steps=steps, alpha=alpha, eot=eot, random_start=random_start,
                   loss=loss)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, **_
         ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """FGSM (Goodfellow et al.): one step of the full budget from x, i.e. PGD with steps=1, no random start."""
    return run_pgd(model, x, y, eps, norm, steps=1, alpha=eps, eot=1, random_start=False, loss="ce")

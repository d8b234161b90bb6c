"""Minimal-perturbation attacks from Foolbox 3.3.4: DeepFool, Carlini-Wagner L2 (HopSkipJump: cnr.attacks.hsj).

Each runs unbounded (Foolbox's ``epsilons=None``) and reports the normalized L2 size of what it
found in ``extra["pert_norm"]`` (inf where it found nothing adversarial). Under a finite budget
the found perturbation is then clipped to each image's own radius (Foolbox clips to one scalar
epsilon for the whole batch, which cannot express the per-image normalized L2 budget), and
success is a fresh forward pass on the clipped image.
"""
from __future__ import annotations

import os

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # foolbox imports GitPython, which needs git otherwise

import foolbox as fb  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cnr.attacks.base import pert_size, project, view4


def _fmodel(model: nn.Module, x: torch.Tensor) -> fb.PyTorchModel:
    """Foolbox's view of the (already eval-mode, counting) model."""
    return fb.PyTorchModel(model, bounds=(0, 1), device=x.device)


@torch.no_grad()
def _wrong(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1) != y


def _finish(model: nn.Module, x: torch.Tensor, y: torch.Tensor, raw: torch.Tensor, found: torch.Tensor,
            eps: torch.Tensor, norm: str, unbounded: bool, found_is_check: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Sizes of the found perturbations (inf where none), the per-image budget clip, and a fresh final check.

    `found_is_check`: `found` already is a fresh forward pass on `raw`, which serves as the final check
    when nothing gets clipped (so pert_norm and success agree even on a random model).
    """
    raw = raw.detach()
    inf = torch.full((len(x),), float("inf"), device=x.device, dtype=x.dtype)
    extra = {"pert_norm": torch.where(found, pert_size(raw, x, "l2"), inf).cpu(),
             "pert_linf": torch.where(found, pert_size(raw, x, "linf"), inf).cpu()}
    if unbounded:
        return raw, (found if found_is_check else _wrong(model, raw, y)), extra
    x_adv = project(raw, x, eps, norm)
    return x_adv, _wrong(model, x_adv, y), extra


def deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *,
             unbounded: bool, steps: int = 50, overshoot: float = 0.02, candidates: int = 10,
             loss: str = "logits", **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """DeepFool (Moosavi-Dezfooli et al.), L2 or Linf; Foolbox caps `candidates` at the number of classes."""
    cls = fb.attacks.L2DeepFoolAttack if norm == "l2" else fb.attacks.LinfDeepFoolAttack
    attack = cls(steps=steps, candidates=candidates, overshoot=overshoot, loss=loss)
    raw = attack.run(_fmodel(model, x), x, fb.criteria.Misclassification(y)).detach()
    return _finish(model, x, y, raw, _wrong(model, raw, y), eps, norm, unbounded, found_is_check=True)


def cw(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *, unbounded: bool,
       binary_steps: int = 5, steps: int = 100, stepsize: float = 0.01, confidence: float = 0.0,
       initial_const: float = 1e-3, abort_early: bool = True, **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Carlini-Wagner L2 (Foolbox's L2CarliniWagnerAttack)."""
    attack = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=binary_steps, steps=steps, stepsize=stepsize,
                                              confidence=confidence, initial_const=initial_const,
                                              abort_early=abort_early)
    raw = attack.run(_fmodel(model, x), x, fb.criteria.Misclassification(y)).detach()
    # Foolbox returns an all-black image where C&W found nothing (its best_advs start at zeros), which
    # is often "adversarial" itself: count those as not found and keep x.
    found = (raw != 0).flatten(1).any(1)
    raw = torch.where(view4(found), raw, x)
    return _finish(model, x, y, raw, found, eps, norm, unbounded)

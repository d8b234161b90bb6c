"""What every attack shares: a model wrapper that counts queries, per-image budgets, projection and clipping.

Budgets. ``norm="linf"``: eps in pixel units of [0, 1] images, the same for every image.
``norm="l2"``: the NORMALIZED L2 budget of the paper, ||x' - x||_2 / ||x||_2 <= budget, so each image
has its own absolute radius ``budget * ||x_i||_2``. Radii are capped at the largest distance the
[0, 1] box allows (1 in Linf, sqrt(pixels) in L2), which makes ``budget=inf`` an exact "unbounded".
"""
from __future__ import annotations

import math

import torch
from torch import nn

NORMS = ("linf", "l2")


class CountingModel(nn.Module):
    """Wraps the attacked model and counts images, not calls: a forward pass on a batch of 250 adds 250.

    ``n_forward``: images that went through the model's forward pass (with or without gradient).
    ``n_backward``: images whose logits a backward pass went through (a hook on the output tensor,
    so it counts ``loss.backward()`` and ``torch.autograd.grad`` alike, from any library).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.n_forward = 0
        self.n_backward = 0

    def forward(self, x: torch.Tensor, draw: torch.Tensor | int | None = None) -> torch.Tensor:
        """The model's logits; `draw` (pinned draws of a random defense, cnr.attacks.draws) is passed on when given."""
        out = self.model(x) if draw is None else self.model(x, draw=draw)
        if not isinstance(out, torch.Tensor):
            from cnr.errors import InputError

            raise InputError(f"the attacked model must return a logits tensor, got {type(out).__name__}")
        if not torch.isfinite(out).all():  # argmax of NaN logits would score an image as fooled
            from cnr.errors import InputError

            bad = (~torch.isfinite(out)).flatten(1).any(1).nonzero().flatten().tolist()
            raise InputError(f"the attacked model returned NaN or Inf logits for image(s) {bad[:5]} of a batch of "
                             f"{len(out)}: no attack result would mean anything; check the model and its inputs")
        n = int(x.shape[0])
        self.n_forward += n
        if out.requires_grad:
            out.register_hook(lambda grad, n=n: self._count_backward(n))
        return out

    def _count_backward(self, n: int) -> None:
        self.n_backward += n


def flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-image L2 norm of an NCHW tensor, shape (N,)."""
    return t.flatten(1).norm(dim=1)


def view4(v: torch.Tensor) -> torch.Tensor:
    """A per-image (N,) vector shaped (N, 1, 1, 1) to broadcast against images."""
    return v.reshape(-1, 1, 1, 1)


def unit(x: torch.Tensor, norm: str) -> torch.Tensor:
    """What one budget unit is worth in absolute terms per image: 1 (Linf) or ||x_i||_2 (normalized L2)."""
    if norm == "linf":
        return torch.ones(x.shape[0], device=x.device, dtype=x.dtype)
    return flat_norm(x)


def max_radius(x: torch.Tensor, norm: str) -> float:
    """The largest distance two images in the [0, 1] box can have: a radius beyond it changes nothing."""
    return 1.0 if norm == "linf" else math.sqrt(x[0].numel())


def check_budget(budget: float, norm: str) -> float:
    """A budget that means what it says in its norm: >= 0 (inf: unbounded), and at most 1 for Linf, where a larger
    one would run as 1 (the [0, 1] box) and be recorded as given."""
    from cnr.errors import InputError

    if isinstance(budget, (bool, str)) or not isinstance(budget, (int, float)):
        raise InputError(f"budget must be a number >= 0 (inf: unbounded), got {type(budget).__name__} {budget!r}")
    budget = float(budget)
    if math.isnan(budget) or budget < 0:
        raise InputError(f"budget must be >= 0 (inf: unbounded), got {budget!r}")
    if norm == "linf" and 1 < budget < math.inf:
        raise InputError(f"budget {budget:g} is past the Linf range of [0, 1] pixels: pass at most 1 "
                         f"(or inf for unbounded); for 8/255 pass {8 / 255:.4f}")
    return budget


def budget_eps(x: torch.Tensor, budget: float, norm: str) -> torch.Tensor:
    """Absolute per-image radius (N,): budget (Linf) or budget * ||x_i|| (normalized L2), capped at the box."""
    cap = max_radius(x, norm)
    if math.isinf(budget):
        return torch.full((x.shape[0],), cap, device=x.device, dtype=x.dtype)
    return (budget * unit(x, norm)).clamp(max=cap)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """Project x_adv onto {x' in [0, 1]: ||x' - x|| <= eps_i} per image (clipping to [0, 1] only shrinks delta)."""
    delta = x_adv - x
    e = view4(eps)
    if norm == "linf":
        delta = torch.maximum(torch.minimum(delta, e), -e)
    else:
        n = view4(flat_norm(delta))
        delta = delta * torch.where(n > e, e / n.clamp_min(1e-12), torch.ones_like(n))
    return (x + delta).clamp(0.0, 1.0)


def pert_size(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-image perturbation in budget units: max |delta| (Linf) or ||delta|| / ||x|| (normalized L2)."""
    delta = x_adv - x
    if norm == "linf":
        return delta.flatten(1).abs().amax(dim=1)
    return flat_norm(delta) / flat_norm(x).clamp_min(1e-12)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image logit margin z_y - max_{c != y} z_c: negative means misclassified."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return true - other

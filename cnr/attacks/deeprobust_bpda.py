"""The paper's white-box tool as it ran: DeepRobust's ``BPDA_attack``, reimplemented batched and tested against its
algorithm (deeprobust/image/attack/BPDA.py of DSE-MSU/DeepRobust, unchanged since commit d2e2be1, the file of
release 0.2.11 at 92ad433).

DeepRobust 0.2.11 does not import beside the kit's scipy, and its BPDA fails under torch 2.13 on
``MSELoss()(0, tensor)`` (an int where a tensor is due); the algorithm, per image, from the attacked image
``adv = x``, for ``iterations`` steps:

- ``adv_def = transform(adv)``, a leaf (the backward pass through the defense is the identity: BPDA);
- ``g`` = the gradient at ``adv_def`` of ``mean(adv_def^2) + CE(model(adv_def), label)
  + mean((x - adv_def)^2) / mean(x^2)`` (two backward passes accumulate into one gradient: the first term's is the
  leftover of a stray ``loss.backward()`` before the real one; means over all of an image's values);
- ``adv = clip(adv - step_size * g)`` to the [0, 1] pixel box, in the ImageNet-normalized coordinates it works in.

No budget ball, no EOT, no early stop, no success rule: it prints the classifier's label and
``sum((adv - x)^2) / sum(x^2)`` (the SQUARE of the normalized L2) after each step and returns the last ``adv``. It
*descends* the cross-entropy of the label it is given: a targeted attack. Called with the true label, it makes the
image more confidently right. ``target`` picks the label: "true" (the label passed), "runner-up" (the clean image's
most likely wrong class) or "random" (a wrong class drawn with the run's seed).

Through the kit the defense sits inside the attacked model: with the "identity" gradient view (cnr.defenses) the
cross-entropy's gradient is DeepRobust's, while its two distance terms are taken at ``adv`` rather than at the
defended ``adv_def`` (their gradient is 2 / (pixels) times the point, below 0.3% of a pixel per step at 28x28).
``space="imagenet"`` works in DeepRobust's ImageNet-normalized coordinates (mean 0.485/0.456/0.406, std
0.229/0.224/0.225: a step of 1.0 there moves pixels by about std^2 = 0.05 times the pixel gradient); "pixels" in the
kit's [0, 1] images, the only one for gray images, whose shape DeepRobust's 3-channel clip does not fit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnr.attacks.base import pert_size
from cnr.attacks.foolbox_attacks import _finish
from cnr.errors import InputError

TARGETS = ("true", "runner-up", "random")
SPACES = ("pixels", "imagenet")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _coordinates(x: torch.Tensor, space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the coordinates the attack works in, shaped to broadcast against x."""
    if space == "pixels":
        return torch.zeros((), dtype=x.dtype), torch.ones((), dtype=x.dtype)
    if x.shape[1] != 3:
        raise InputError(f"deeprobust_bpda space='imagenet' needs RGB images, got {x.shape[1]} channel(s); "
                         f"use space='pixels'")
    shape = (1, 3, 1, 1)
    return (torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(shape),
            torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(shape))


@torch.no_grad()
def _labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: str, seed: int) -> torch.Tensor:
    """The label each image's cross-entropy is descended toward."""
    if target == "true":
        return y
    logits = model(x)
    if target == "runner-up":
        return logits.scatter(1, y[:, None], float("-inf")).argmax(1)
    g = torch.Generator().manual_seed(seed)
    shift = torch.randint(1, logits.shape[1], (len(y),), generator=g).to(y.device)
    return (y + shift) % logits.shape[1]


def deeprobust_bpda(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *,
                    unbounded: bool, seed: int, iterations: int = 10, step_size: float = 1.0, target: str = "true",
                    space: str = "pixels", **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """DeepRobust's BPDA (L2), batched: each image's loss is its own, so the batch changes no image's steps.

    Runs unbounded (a finite budget projects its output afterwards, as for the kit's other minimal attacks).
    success: a fresh pass on the output misclassifies it; extra["pert_norm"]: normalized L2 of the outputs that
    fooled that pass (inf elsewhere), extra["output_l2"]: of every output, and extra["deeprobust_l2"]: the number
    DeepRobust prints (its square).
    """
    mean, std = _coordinates(x, space)
    origin = (x.detach() - mean) / std
    label = _labels(model, x, y, target, seed)
    origin_power = origin.pow(2).flatten(1).mean(1)
    adv = origin.clone()
    for _ in range(iterations):
        adv_def = adv.clone().requires_grad_(True)
        logits = model(adv_def * std + mean)
        per_image = (adv_def.pow(2).flatten(1).mean(1) + F.cross_entropy(logits, label, reduction="none")
                     + (origin - adv_def).pow(2).flatten(1).mean(1) / origin_power)
        (g,) = torch.autograd.grad(per_image.sum(), adv_def)
        with torch.no_grad():
            adv = (((adv - step_size * g) * std + mean).clamp(0.0, 1.0) - mean) / std
    raw = (adv * std + mean).clamp(0.0, 1.0).detach()
    with torch.no_grad():
        fooled = model(raw).argmax(1) != y
    x_adv, success, extra = _finish(model, x, y, raw, fooled, eps, norm, unbounded, found_is_check=True)
    extra["output_l2"] = pert_size(raw, x, "l2").cpu()
    extra["deeprobust_l2"] = extra["output_l2"].pow(2)
    return x_adv, success, extra

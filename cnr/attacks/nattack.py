"""NATTACK (Li et al., ICML 2019): learn a Gaussian over adversarial perturbations in tanh space, forward passes only.

Following the authors' code: a search mean mu (initialized N(0, 0.001^2)) over z; a candidate is
x' = proj_S(x)(0.5 * (tanh(atanh(2x - 1) + z) + 1)), projected onto the budget ball (Linf box as in
the paper, or the normalized-L2 ball); the loss is the clipped margin
clip(log p_y - max_{c != y} log p_c, 0, 1000) = clip(z_y - max_{c != y} z_c, 0, 1000) on logits;
each iteration samples `population` z = mu + sigma * N(0, I), standardizes minus the losses into
rewards A and moves mu += lr / (population * sigma) * sum_i A_i eps_i (natural evolution strategies).
The mean's candidate is checked every iteration (the authors: every 10th) and an image stops as
soon as it is misclassified. As in the paper's ImageNet setup, the search runs at most
`search_size` px a side and is upsampled bilinearly to the image size.

Defaults are the authors' CIFAR code's sigma 0.1 and lr 0.02 with 100 iterations and population
100 (the paper, via DeepRobust: population 300, 400 iterations; the profiles set these).

`space="pixel"` searches z in pixel space instead, x' = proj_S(x)(clip(x + z, 0, 1)): in tanh space a pixel at
exactly 0 or 1 sits at atanh(+-0.999999) = +-7.25, where no z of the search's scale moves it, so on images with a
flat black background (Fashion-MNIST) the authors' parametrization leaves most of the image out of reach.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnr.attacks.base import margin, project


def _to_image(xt: torch.Tensor, z: torch.Tensor, size: tuple[int, int], space: str) -> torch.Tensor:
    """0.5 * (tanh(atanh(2x - 1) + z) + 1) in tanh space, clip(x + z, 0, 1) in pixel space; z upsampled to the
    image size when searched smaller."""
    if z.shape[-2:] != size:
        z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
    if space == "pixel":
        return (xt + z).clamp(0, 1)
    return 0.5 * (torch.tanh(xt + z) + 1)


def nattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *,
            batch_size: int, iterations: int = 100, population: int = 100, sigma: float = 0.1, lr: float = 0.02,
            search_size: int = 32, max_queries: int | None = None, space: str = "tanh",
            **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Per-image NES in tanh space; `batch_size` also bounds how many candidates go through the model at once.

    extra["queries"]: each image's model queries (its checks included). `max_queries` (None: `iterations` decide)
    stops an image before an iteration it cannot pay for (a population pass plus the check of its new mean).
    """
    n, c, h, w = x.shape
    sh, sw = min(h, search_size), min(w, search_size)
    # the authors' 0.999999 keeps atanh finite at 0 and 1
    xt = x if space == "pixel" else torch.atanh((2 * x - 1) * (1 - 1e-6))
    mu = torch.randn(n, c, sh, sw, device=x.device, dtype=x.dtype) * 1e-3
    x_adv, done = x.clone(), torch.zeros(n, dtype=torch.bool, device=x.device)
    spent = torch.zeros(n, dtype=torch.int64, device=x.device)
    out_of_queries = torch.zeros(n, dtype=torch.bool, device=x.device)
    group = max(1, batch_size // population)  # images per population pass: <= batch_size candidates at once

    def check(idx: torch.Tensor) -> torch.Tensor:
        """Score the mean's candidate of these images; keep it as their current result."""
        if len(idx) == 0:
            return idx
        cand = project(_to_image(xt[idx], mu[idx], (h, w), space), x[idx], eps[idx], norm)
        with torch.no_grad():
            wrong = model(cand).argmax(1) != y[idx]
        spent[idx] += 1
        x_adv[idx] = cand
        done[idx[wrong]] = True
        return idx[~wrong]

    for _ in range(iterations):
        active = check((~done & ~out_of_queries).nonzero().squeeze(1))
        if max_queries is not None:  # a population pass and the check of its new mean must fit
            broke = spent[active] + population + 1 > max_queries
            out_of_queries[active[broke]] = True
            active = active[~broke]
        for start in range(0, len(active), group):
            idx = active[start : start + group]
            k = len(idx)
            noise = torch.randn(k, population, c, sh, sw, device=x.device, dtype=x.dtype)
            z = (mu[idx, None] + sigma * noise).flatten(0, 1)
            rep = idx.repeat_interleave(population)
            cand = project(_to_image(xt[rep], z, (h, w), space), x[rep], eps[rep], norm)
            with torch.no_grad():
                loss = margin(model(cand), y[rep]).clamp(0, 1000).view(k, population)
            reward = -(loss - loss.mean(1, keepdim=True)) / (loss.std(1, unbiased=False, keepdim=True) + 1e-7)
            mu[idx] += lr / (population * sigma) * (reward[:, :, None, None, None] * noise).sum(1)
            spent[idx] += population
        if (done | out_of_queries).all():
            break
    check((~done & ~out_of_queries).nonzero().squeeze(1))  # the last update's mean (its candidate is unscored)
    return x_adv, done, {"queries": spent.cpu()}

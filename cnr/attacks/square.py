"""Square Attack (Andriushchenko et al.), the AutoAttack authors' code from pyautoattack 0.2.0.

Linf: the library's ``SquareAttack.attack_single_run`` as is (one eps for all images). L2: the
library takes one scalar eps, but the normalized L2 budget gives every image its own radius, and
the library shrinks its batch to the not-yet-fooled images inside its loop, so a per-image eps
cannot be passed in. ``PerImageL2Square`` therefore carries the library's L2 loop over with one
change, eps indexed per image alongside the batch (tests check it reproduces the library exactly
when all radii are equal). Neither rounding radii down to groups (weaker) nor one image per call
(slow on a slow model) is needed.

Differences from ``SquareAttack.perturb``: we seed the global torch RNG once per run (inside a
forked RNG state), attack only images the model gets right on a first pass, and return the
attack's best point (highest loss) for images it did not fool, rather than the clean image: on a
random defense that point may fool other draws. success is the attack's final forward pass.
"""
from __future__ import annotations

import math

import torch
from pyautoattack.square import SquareAttack
from torch import nn

from cnr.attacks.base import view4
from cnr.errors import InputError


class PerImageL2Square(SquareAttack):
    """SquareAttack whose L2 radius is a per-image tensor ``self.eps_img`` of shape (N,)."""

    def attack_single_run(self, x: torch.Tensor, y: torch.Tensor):
        if self.norm != "L2":
            return super().attack_single_run(x, y)
        eps_all = view4(self.eps_img.to(x.device, x.dtype))
        with torch.no_grad():
            c, h, w = x.shape[1:]
            n_features = c * h * w
            delta_init = torch.zeros_like(x)
            s = h // 5
            sp_init = (h - s * 5) // 2
            vh = sp_init + 0
            for _ in range(h // s):
                vw = sp_init + 0
                for _ in range(w // s):
                    delta_init[:, :, vh:vh + s, vw:vw + s] += self.eta(s).view(1, 1, s, s) * self.random_choice(
                        [x.shape[0], c, 1, 1])
                    vw += s
                vh += s
            x_best = torch.clamp(x + self.normalize(delta_init) * eps_all, 0.0, 1.0)
            margin_min, loss_min = self.margin_and_loss(x_best, y)
            n_queries = torch.ones(x.shape[0]).to(self.device)
            if (margin_min < 0.0).all():
                return n_queries, x_best
            for i_iter in range(self.n_queries):
                idx_to_fool = (margin_min > 0.0).nonzero().squeeze()
                x_curr = self.check_shape(x[idx_to_fool])
                x_best_curr = self.check_shape(x_best[idx_to_fool])
                eps = view4(eps_all[idx_to_fool])  # the one change: this image's radius
                y_curr = y[idx_to_fool]
                if len(y_curr.shape) == 0:
                    y_curr = y_curr.unsqueeze(0)
                margin_min_curr = margin_min[idx_to_fool]
                loss_min_curr = loss_min[idx_to_fool]

                delta_curr = x_best_curr - x_curr
                p = self.p_selection(i_iter)
                s = max(int(round(math.sqrt(p * n_features / c))), 3)
                if s % 2 == 0:
                    s += 1
                s = min(s, min(h, w))

                vh = self.random_int(0, h - s)
                vw = self.random_int(0, w - s)
                new_deltas_mask = torch.zeros_like(x_curr)
                new_deltas_mask[:, :, vh:vh + s, vw:vw + s] = 1.0
                norms_window_1 = (delta_curr[:, :, vh:vh + s, vw:vw + s] ** 2).sum(dim=(-2, -1), keepdim=True).sqrt()

                vh2 = self.random_int(0, h - s)
                vw2 = self.random_int(0, w - s)
                new_deltas_mask_2 = torch.zeros_like(x_curr)
                new_deltas_mask_2[:, :, vh2:vh2 + s, vw2:vw2 + s] = 1.0

                norms_image = self.lp_norm(x_best_curr - x_curr)
                mask_image = torch.max(new_deltas_mask, new_deltas_mask_2)
                norms_windows = ((delta_curr * mask_image) ** 2).sum(dim=(-2, -1), keepdim=True).sqrt()

                new_deltas = torch.ones([x_curr.shape[0], c, s, s]).to(self.device)
                new_deltas *= self.eta(s).view(1, 1, s, s) * self.random_choice([x_curr.shape[0], c, 1, 1])
                old_deltas = delta_curr[:, :, vh:vh + s, vw:vw + s] / (1e-12 + norms_window_1)
                new_deltas += old_deltas
                new_deltas = new_deltas / (1e-12 + (new_deltas ** 2).sum(dim=(-2, -1), keepdim=True).sqrt()) * (
                    torch.max((eps * torch.ones_like(new_deltas)) ** 2 - norms_image ** 2,
                              torch.zeros_like(new_deltas)) / c + norms_windows ** 2).sqrt()
                delta_curr[:, :, vh2:vh2 + s, vw2:vw2 + s] = 0.0
                delta_curr[:, :, vh:vh + s, vw:vw + s] = new_deltas + 0

                x_new = torch.clamp(x_curr + self.normalize(delta_curr) * eps, 0.0, 1.0)
                x_new = self.check_shape(x_new)

                margin, loss = self.margin_and_loss(x_new, y_curr)
                idx_improved = (loss < loss_min_curr).float()
                loss_min[idx_to_fool] = idx_improved * loss + (1.0 - idx_improved) * loss_min_curr
                idx_miscl = (margin <= 0.0).float()
                idx_improved = torch.max(idx_improved, idx_miscl)
                margin_min[idx_to_fool] = idx_improved * margin + (1.0 - idx_improved) * margin_min_curr
                idx_improved = idx_improved.reshape([-1, *[1] * len(x.shape[:-1])])
                x_best[idx_to_fool] = idx_improved * x_new + (1.0 - idx_improved) * x_best_curr
                n_queries[idx_to_fool] += 1.0

                ind_succ = (margin_min <= 0.0).nonzero().squeeze()
                if ind_succ.numel() == x.shape[0]:
                    break
        return n_queries, x_best


def square(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: str, *, seed: int,
           n_queries: int = 1000, p_init: float = 0.8, n_restarts: int = 1, loss: str = "margin",
           resc_schedule: bool = True, **_) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Square Attack with pyautoattack's standalone defaults (p_init 0.8 in both norms, margin loss)."""
    h, w = x.shape[2:]
    if norm == "l2" and min(h, w) < 5:
        raise InputError(f"square in L2 needs images of at least 5x5 px (its initial tiling), got {h}x{w}")
    attack = PerImageL2Square(model, norm="Linf" if norm == "linf" else "L2", n_queries=n_queries,
                              eps=float(eps.max()), p_init=p_init, n_restarts=n_restarts, seed=seed, verbose=False,
                              loss=loss, resc_schedule=resc_schedule, device=x.device)
    attack.init_hyperparam(x)
    x_adv = x.clone()
    with torch.no_grad():
        todo = model(x).argmax(1) == y
    for _ in range(n_restarts):
        idx = todo.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        attack.eps_img = eps[idx]
        _, adv = attack.attack_single_run(x[idx], y[idx])
        with torch.no_grad():
            fooled = model(adv).argmax(1) != y[idx]
        x_adv[idx] = adv  # fooled or not: the restart's best point
        todo[idx[fooled]] = False
    return x_adv, ~todo, {}

"""Square Attack's L2 loop with a per-image radius: vendored from pyautoattack 0.2.0 (`pyautoattack.square`,
`SquareAttack.attack_single_run`, L2 branch), the AutoAttack authors' code, changed only to index eps per image
(and to build each size's window once).

The normalized L2 budget gives every image its own radius, while the library takes one scalar eps and shrinks its
batch to the not-yet-fooled images inside the loop, so a per-image eps cannot be passed in from outside. Tests
check that with equal radii this reproduces the library exactly.
"""
from __future__ import annotations

import math

import torch
from pyautoattack.square import SquareAttack

from cnr.attacks.base import view4


class PerImageL2Square(SquareAttack):
    """SquareAttack whose L2 radius is a per-image tensor ``self.eps_img`` of shape (N,)."""

    def eta(self, s: int) -> torch.Tensor:
        """The library's L2 window of size s: its values (built by Python loops over the window) computed once per
        size, its random transpose drawn on every call as the library draws it."""
        if self.norm != "L2":
            return super().eta(s)
        cache = self.__dict__.setdefault("_eta_windows", {})
        if (s, self.device) not in cache:
            delta = torch.zeros([s, s]).to(self.device)
            delta[:s // 2] = self.eta_rectangles(s // 2, s)
            delta[s // 2:] = -1.0 * self.eta_rectangles(s - s // 2, s)
            cache[s, self.device] = delta / (delta ** 2).sum(dim=(0, 1), keepdim=True).sqrt()
        delta = cache[s, self.device]
        return delta.permute([1, 0]) if torch.rand([1]) > 0.5 else delta

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

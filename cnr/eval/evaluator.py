"""Runs one cell: attack a (defense, classifier) with an attack spec, then score the final adversarials over draws."""
from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from cnr.cells.specs import Cell
from cnr.defenses import Defended
from cnr.defenses.compress_restore import GRADS
from cnr.eval.scoring import score, summarize
from cnr.run import Run


class Evaluator:
    """Holds the data, the classifier and the bank once, and runs cells against them."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classifier: nn.Module, bank: nn.Module | None, run: Run):
        self.x, self.y, self.classifier, self.bank, self.run = x, y, classifier, bank, run
        p = run.profile
        self.dataset, self.classifier_name = p.data.dataset, p.data.classifier
        self.seed, self.draws = p.seed, p.samples.draws
        self.sizes = p.sample_sizes()
        self._bare: dict[tuple, Any] = {}  # attacks on the bare classifier: crafted once, reused by oblivious cells

    def run_cell(self, cell: Cell, out_csv: str | os.PathLike | None = None) -> dict[str, Any]:
        """Attack one (defense, attack) cell and score the final adversarials over fresh draws.

        With `out_csv`, the per-image outcomes are stored beside that table (cnr.eval.outcomes)."""
        from cnr.attacks import run_attack

        n = min(self.sizes[cell.attack.sample], len(self.x))
        x, y = self.x[:n], self.y[:n]
        view = cell.attack.view
        defense, target, attacked = self.models(cell)
        t0 = time.perf_counter()
        if cell.attack.attack == "clean" or cell.attack.budget == 0:
            x_adv, counts, extra, success = x, (0, 0), {}, torch.zeros(n, dtype=torch.bool)
        else:
            # the undefended PGD cell and every oblivious cell of a budget craft the same adversarials: once
            bare = attacked is self.classifier and cell.attack.attack == "pgd"
            key = (cell.attack.attack, cell.attack.norm, cell.attack.budget, cell.attack.params, n)
            res = self._bare.get(key) if bare else None
            if res is None:
                res = run_attack(cell.attack.attack, attacked, x, y, cell.attack.budget, norm=cell.attack.norm,
                                 seed=self.seed, **dict(cell.attack.params))
                if bare:
                    self._bare[key] = res
            x_adv, counts, extra, success = res.x_adv, (res.n_forward, res.n_backward), res.extra or {}, res.success
        attack_s = time.perf_counter() - t0
        random_defense = bool(getattr(defense, "is_random", False))
        correct = score(target, x_adv, y, self.draws if random_defense else 1)
        delta = (x_adv - x).flatten(1)
        l2 = delta.norm(dim=1) / x.flatten(1).norm(dim=1).clamp_min(1e-12)
        row = {**cell.key(self.dataset, self.classifier_name, self.seed), **cell.defense.columns(),
               "kind": cell.attack.kind, "ablation": cell.attack.ablation, **self.run.describe(),
               **summarize(correct), "random_defense": random_defense, "view": view, "n_forward": counts[0],
               "n_backward": counts[1], "pert_l2_median": l2.median().item(),
               "pert_linf_max": delta.abs().max().item() if n else 0.0,
               "wall_s": round(time.perf_counter() - t0, 2), "attack_s": round(attack_s, 2)}
        if out_csv is not None:
            from cnr.attacks.base import pert_size
            from cnr.eval.outcomes import save_outcomes

            pert = pert_size(x_adv, x, "l2" if cell.attack.norm == "l2" else "linf")
            row["outcomes"] = save_outcomes(out_csv, row, correct, success, pert)
        if isinstance(extra.get("queries"), torch.Tensor) and len(extra["queries"]):  # the black-box attacks
            q = extra["queries"].double()
            row["queries_median"], row["queries_max"] = q.quantile(0.5).item(), int(q.max())
        if "pert_norm" in extra:
            pn = torch.as_tensor(extra["pert_norm"]).float()
            pn = pn[torch.isfinite(pn)]
            row["min_pert_l2_median"] = pn.median().item() if len(pn) else float("nan")
        return row

    def models(self, cell: Cell) -> tuple[nn.Module | None, nn.Module, nn.Module]:
        """The cell's defense (None: undefended), the model it is scored on, and the model its attack sees."""
        view = cell.attack.view
        defense = cell.defense.build(self.bank, grad=view if view in GRADS else "bpda", seed=self.seed)
        target = self.classifier if defense is None else Defended(defense, self.classifier)
        attacked = self.classifier if view == "oblivious" else target
        if view == "transfer-static" and cell.defense.mode in ("static", "dynamic"):
            source = replace(cell.defense, name=f"static-N{cell.defense.n_iter}", mode="static")
            attacked = Defended(source.build(self.bank, grad="bpda", seed=self.seed), self.classifier)
        return defense, target, attacked


def make_evaluator(run: Run, n: int | None = None) -> Evaluator:
    """Load the run's test images, classifier and AR-GAN bank once; `n` images (default: the profile's sample)."""
    from cnr.classifiers import load_classifier
    from cnr.data import BANK_FAMILY, check_sample_size, load_dataset
    from cnr.parsing import check_int
    from cnr.precision import with_compute
    from cnr.training import load_bank

    p = run.profile
    n = max(p.sample_sizes().values()) if n is None else check_sample_size(p.data.dataset, check_int(n, "n", 1), "n")
    clf = load_classifier(p.data.classifier, device=run.device, weights=run.classifier_weights())
    # the classifier's own resize recipe; protocol datasets also select the images it gets right
    x, y = load_dataset(p.data.dataset, limit=n, interpolation=clf.cnr_input.interpolation, classifier=clf,
                        device=run.device, seed=p.seed)
    if len(x) < n:  # a folder dataset (ImageNet) with fewer images than asked: say so, since every cell is smaller
        import warnings

        warnings.warn(f"{p.data.dataset} gave {len(x)} images, fewer than the {n} the profile asks for (samples "
                      f"{p.sample_sizes()}); every cell uses at most {len(x)}", stacklevel=2)
    bank = load_bank(run, BANK_FAMILY[p.data.dataset])
    clf, bank = with_compute(clf, bank, p.compute.precision, p.compute.channels_last)  # after the images' selection
    return Evaluator(x.to(run.device), y.to(run.device), clf, bank, run)

"""The attack grid of a profile: which (defense, attack, budget) cells to run, and the entry point that runs them."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from cnr.evaluate import AttackSpec, Cell, DefenseSpec, Evaluator, default_defenses, parse_shard, run_cells
from cnr.profiles import Profile, get_profile

REPO_ROOT = Path(__file__).resolve().parent.parent


def build_grid(profile: str | Profile = "quick") -> list[Cell]:
    """Every cell of the profile's grid, cheapest first.

    Full budget sweeps for the undefended model, JPEG and the `sweep_ns` defenses; the other N at the
    reference budgets (the N ablation); EOT at the first `eot_budgets` budgets of each norm; minimal-perturbation,
    black-box and AutoAttack cells at the reference budgets.
    """
    p = get_profile(profile)
    defenses = default_defenses(p.qf_range, p.ns)
    swept = [d for d in defenses if d.mode in ("none", "jpeg") or d.n_iter in p.sweep_ns]
    randomized = [d for d in defenses if d.mode != "none"]
    steps = (("steps", p.pgd_steps),)
    eot = (("eot", p.eot_samples), ("steps", p.pgd_steps))
    budgets = [("linf", b) for b in p.linf_budgets] + [("l2", b) for b in p.l2_budgets]
    refs = [("linf", p.ref_linf), ("l2", p.ref_l2)]
    cells: list[Cell] = [Cell(d, AttackSpec("clean", "clean", "linf", 0.0)) for d in defenses]
    for norm, b in budgets:
        on = defenses if (norm, b) in refs else swept
        cells += [Cell(d, AttackSpec("bpda-pgd", "pgd", norm, b, params=steps)) for d in on]
        cells += [Cell(d, AttackSpec("oblivious-pgd", "pgd", norm, b, view="oblivious", params=steps))
                  for d in on if d.mode != "none"]
    for norm, bs in (("linf", p.linf_budgets), ("l2", p.l2_budgets)):
        for b in bs[: p.eot_budgets]:
            on = randomized if (norm, b) in refs else [d for d in swept if d.mode != "none"]
            cells += [Cell(d, AttackSpec("eot-bpda-pgd", "pgd", norm, b, sample="costly", params=eot)) for d in on]
    for norm, b in refs:
        cells += [Cell(d, AttackSpec("eot-diffjpeg-pgd", "pgd", norm, b, view="surrogate", sample="costly",
                                     params=eot)) for d in randomized]
        cells += [Cell(d, AttackSpec("generalized-bpda-pgd", "pgd", norm, b, view="identity", params=steps))
                  for d in randomized]
    l2 = p.ref_l2
    cells += [Cell(d, AttackSpec("deepfool", "deepfool", "l2", float("inf"), sample="costly",
                                 params=(("steps", p.deepfool_steps),))) for d in defenses]
    cells += [Cell(d, AttackSpec("cw", "cw", "l2", float("inf"), sample="costly",
                                 params=(("binary_steps", p.cw_binary_steps), ("steps", p.cw_steps)))) for d in defenses]
    cells += [Cell(d, AttackSpec("square", "square", "linf", p.ref_linf, sample="costly",
                                 params=(("n_queries", p.square_queries),))) for d in defenses]
    cells += [Cell(d, AttackSpec("square", "square", "l2", l2, sample="costly",
                                 params=(("n_queries", p.square_queries),))) for d in defenses]
    cells += [Cell(d, AttackSpec("nattack", "nattack", "linf", p.ref_linf, sample="costly",
                                 params=(("iterations", p.nattack_iters), ("population", p.nattack_pop))))
              for d in defenses]
    cells += [Cell(d, AttackSpec("hsj", "hsj", "l2", l2, sample="costly", params=(("steps", p.hsj_steps),)))
              for d in defenses]
    cells += [Cell(d, AttackSpec("autoattack-rand", "autoattack_rand", "linf", p.ref_linf, sample="costly"))
              for d in defenses]
    return cells


def make_evaluator(profile: str | Profile = "quick", device: str | None = None) -> Evaluator:
    """Load the profile's test images, classifier and AR-GAN bank once."""
    from cnr.argan import RestorerBank
    from cnr.classifiers import load_classifier
    from cnr.data import load_dataset

    p = get_profile(profile)
    device = device or ("cuda" if p.device == "auto" and torch.cuda.is_available() else "cpu")
    n = max(p.n_eval, p.n_costly)
    clf = load_classifier(p.classifier, device=device)
    if p.dataset == "imagenet":
        x, y = _imagenet_protocol(clf, n, device)
    else:
        x, y = load_dataset(p.dataset, limit=n)
    bank = RestorerBank.load(REPO_ROOT / p.models_dir / f"argan-{p.dataset}", device=device, dataset=p.dataset)
    return Evaluator(x.to(device), y.to(device), clf, bank, p.dataset, p.classifier,
                     sizes={"eval": p.n_eval, "costly": p.n_costly}, draws=p.draws, seed=p.seed)


def _imagenet_protocol(clf: torch.nn.Module, n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's images: one per class, in dataset order, each classified correctly by the classifier under test."""
    import os

    from cnr.data import ImageNetVal, imagenet_val_dir, select_protocol_images

    ds = ImageNetVal(imagenet_val_dir(), labels_file=os.environ.get("CNR_IMAGENET_LABELS"))
    idx = select_protocol_images(ds, clf, n_classes=1000, per_class=max(1, n // 1000), device=device)[:n]
    items = [ds[i] for i in idx]
    return torch.stack([im for im, _ in items]), torch.tensor([c for _, c in items], dtype=torch.int64)


def robustness_csv(profile: str | Profile = "quick") -> Path:
    """Where a profile's results table lives."""
    return REPO_ROOT / get_profile(profile).results_dir / "tables" / "robustness.csv"


def run_grid(profile: str | Profile = "quick", shard: str | None = None, resume: bool = True,
             out_csv: str | Path | None = None) -> pd.DataFrame:
    """Run (this shard of) a profile's grid, skipping finished rows; returns the merged table."""
    t0 = time.perf_counter()
    torch.manual_seed(get_profile(profile).seed)
    df = run_cells(make_evaluator(profile), build_grid(profile), out_csv or robustness_csv(profile),
                   shard=parse_shard(shard), resume=resume)
    print(f"grid ({get_profile(profile).name}, shard {shard or '1/1'}): {len(df)} rows in the table, "
          f"{time.perf_counter() - t0:.0f} s")
    return df

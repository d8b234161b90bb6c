"""The attack grid of a profile: which (defense, attack, budget) cells to run, and the entry point that runs them."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from cnr.evaluate import AttackSpec, Cell, DefenseSpec, Evaluator, default_defenses, parse_shard, run_cells
from cnr.profiles import PROFILES, Profile, get_profile

REPO_ROOT = Path(__file__).resolve().parent.parent


def build_grid(profile: str | Profile = "quick") -> list[Cell]:
    """Every cell of the profile's grid, cheapest first.

    Budget sweeps (BPDA, EOT-BPDA, oblivious PGD) and the costly attacks (C&W, DeepFool, Square, Nattack,
    HopSkipJump, AutoAttack rand, BPDA through the differentiable JPEG) run on the `main` defenses: none, JPEG and
    static/dynamic at N in `sweep_ns`. The N ablation (every N, and a fixed-QF dynamic defense) runs at the
    reference budgets under BPDA and the generalized BPDA, and for dynamic N under EOT-BPDA (the whole defense as the identity backward).
    """
    p = get_profile(profile)
    defenses = default_defenses(p.qf_range, p.ns)
    fixed = DefenseSpec(f"dynamic-N{p.sweep_ns[0]}-qf{p.fixed_qf}", "dynamic", p.sweep_ns[0], (p.fixed_qf, p.fixed_qf))
    main = [d for d in defenses if d.mode in ("none", "jpeg") or d.n_iter in p.sweep_ns]
    ablation = [d for d in defenses if d not in main] + [fixed]
    randomized = [d for d in main if d.mode != "none"]
    pgd = (("steps", p.pgd_steps),)
    eot = (("eot", p.eot_samples), ("steps", p.eot_steps))
    budgets = [("linf", b) for b in p.linf_budgets] + [("l2", b) for b in p.l2_budgets]
    refs = [("linf", p.ref_linf), ("l2", p.ref_l2)]

    def cells(on: list[DefenseSpec], label: str, attack: str, norm: str, budget: float, **kw) -> list[Cell]:
        return [Cell(d, AttackSpec(label, attack, norm, budget, **kw)) for d in on]

    out = cells(defenses + [fixed], "clean", "clean", "linf", 0.0)
    for norm, b in budgets:
        ref = (norm, b) in refs
        out += cells(main + (ablation if ref else []), "bpda-pgd", "pgd", norm, b, params=pgd)
        out += cells(randomized, "oblivious-pgd", "pgd", norm, b, view="oblivious", params=pgd)
        out += cells(randomized + ([d for d in ablation if d.mode == "dynamic" and d is not fixed] if ref else []),
                     "eot-bpda-pgd", "pgd", norm, b, sample="costly", params=eot)
    for norm, b in refs:
        out += cells(randomized + ablation, "generalized-bpda-pgd", "pgd", norm, b, view="identity", params=pgd)
        out += cells([d for d in randomized if d.mode != "jpeg"], "eot-diffjpeg-pgd", "pgd", norm, b,
                     view="surrogate", sample="costly", params=eot)
    unbounded = float("inf")
    out += cells(main, "deepfool", "deepfool", "l2", unbounded, sample="costly",
                 params=(("steps", p.deepfool_steps), ("candidates", p.deepfool_candidates)))
    out += cells(main, "cw", "cw", "l2", unbounded, sample="costly",
                 params=(("binary_steps", p.cw_binary_steps), ("steps", p.cw_steps)))
    for norm, b in refs:
        out += cells(main, "square", "square", norm, b, sample="costly", params=(("n_queries", p.square_queries),))
    out += cells(main, "nattack", "nattack", "linf", p.ref_linf, sample="costly",
                 params=(("iterations", p.nattack_iters), ("population", p.nattack_pop)))
    out += cells(main, "hsj", "hsj", "l2", p.ref_l2, sample="costly",
                 params=(("steps", p.hsj_steps), ("initial_gradient_eval_steps", p.hsj_grad_evals),
                         ("init_steps", p.hsj_init_steps)))
    out += cells(main, "autoattack-rand", "autoattack_rand", "linf", p.ref_linf, sample="costly",
                 params=(("eot_iter", p.aa_eot_iter), ("n_iter", p.aa_iters)))
    return out


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


def run_workers(profile: str | Profile, workers: int, resume: bool = True) -> None:
    """Split the grid over `workers` local processes of one thread each (small models use cores better that way)."""
    import os
    import subprocess
    import sys

    name = get_profile(profile).name
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           # glibc hands the 10-30 MB activation buffers back to the kernel after every pass and faults them in
           # again: 14% of the grid's CPU time was system time; keeping them cut it to 2% (measured, one worker)
           "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", str(256 << 20)),
           "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_", str(1 << 30))}
    cmd = [sys.executable, "-m", "cnr", "grid", "--profile", name, "--workers", "1"] + ([] if resume else ["--no-resume"])
    procs = [subprocess.Popen(cmd + ["--shard", f"{i}/{workers}"], env=env, cwd=REPO_ROOT) for i in range(1, workers + 1)]
    codes = [p.wait() for p in procs]
    if any(codes):
        from cnr.errors import CnrError

        raise CnrError(f"grid workers exited with {codes}; rerun `cnr grid --profile {name}` to finish (rows are kept)")


def run_grid(profile: str | Profile = "quick", shard: str | None = None, resume: bool = True,
             out_csv: str | Path | None = None, workers: int | None = None) -> pd.DataFrame:
    """Run (this shard of) a profile's grid, skipping finished rows; returns the merged table.

    `workers` > 1 (default: the profile's `grid_workers`) runs the shards 1/k..k/k as parallel processes here.
    """
    from cnr.evaluate import read_rows, write_table

    t0 = time.perf_counter()
    p = get_profile(profile)
    workers = p.grid_workers if workers is None else workers
    by_name = PROFILES.get(p.name) == p  # worker processes rebuild the profile from its name: no overrides
    if workers > 1 and shard is None and out_csv is None and by_name:
        run_workers(profile, workers, resume)
        df = read_rows(robustness_csv(profile))
        write_table(df, robustness_csv(profile))
        print(f"grid ({get_profile(profile).name}, {workers} workers): {len(df)} rows in the table, "
              f"{time.perf_counter() - t0:.0f} s")
        return df
    torch.manual_seed(get_profile(profile).seed)
    df = run_cells(make_evaluator(profile), build_grid(profile), out_csv or robustness_csv(profile),
                   shard=parse_shard(shard), resume=resume)
    print(f"grid ({get_profile(profile).name}, shard {shard or '1/1'}): {len(df)} rows in the table, "
          f"{time.perf_counter() - t0:.0f} s")
    return df

"""Is the ImageNet track's white-box ensemble converged? A 40-step, 4-sample EOT BPDA-PGD with the margin loss (the
strongest single setting an outside check used) on the imagenet profile's own images, beside the committed ensemble.

Run the parts in parallel (one thread each), then combine:
    python benchmarks/imagenet_margin_check.py --defense dynamic-N3 --part 1/2 &
    python benchmarks/imagenet_margin_check.py --defense dynamic-N3 --part 2/2 &
    python benchmarks/imagenet_margin_check.py --defense static-N3,dynamic-N3 --combine
Each part's per-image outcomes (correct under every scoring draw) go to --out, so a stopped run resumes by part.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest

from cnr.analysis.ensemble import mark_inconclusive
from cnr.attacks import run_attack
from cnr.defenses import Defended, defense_by_name
from cnr.eval.evaluator import make_evaluator
from cnr.eval.merge import load_table
from cnr.eval.outcomes import load_outcomes
from cnr.eval.scoring import score
from cnr.reporting.select import at_budget
from cnr.run import resolve_run
from cnr.stats import wilson_interval

PARAMS = dict(steps=40, eot=4, loss="margin")


def part_file(out: Path, defense: str, budget: float, i: int, k: int) -> Path:
    return out / f"{defense}-linf{budget:.4f}-part{i}of{k}.npy"


def run_part(args: argparse.Namespace, budget: float) -> None:
    i, k = (int(v) for v in args.part.split("/"))
    path = part_file(args.out, args.defense, budget, i, k)
    if path.exists():
        print(f"{path} exists: part done")
        return
    run = resolve_run("imagenet", {}, seed=0)
    ev = make_evaluator(run)
    n = run.profile.samples.costly
    idx = torch.arange(n)[i - 1::k]
    model = Defended(defense_by_name(run.profile, args.defense).build(ev.bank, grad="bpda", seed=ev.seed),
                     ev.classifier)
    t0 = time.perf_counter()
    res = run_attack("pgd", model, ev.x[idx], ev.y[idx], budget, norm="linf", seed=ev.seed, **PARAMS)
    correct = score(model, res.x_adv, ev.y[idx], ev.draws).cpu().numpy().astype(bool)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(path, np.concatenate([idx.numpy()[None], correct.astype(np.int64)]))
    print(f"part {i}/{k}: {len(idx)} images, {time.perf_counter() - t0:.0f} s")


def kept_images(run, out: Path, defense: str, budget: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Per image: robust under the committed suite (clean included), and under the suite plus the margin attack."""
    parts = [np.load(p) for p in sorted(out.glob(f"{defense}-linf{budget:.4f}-part*of*.npy"))]
    if not parts:
        raise SystemExit(f"no parts for {defense} in {out}: run the --part commands first")
    order = np.concatenate([p[0] for p in parts])
    correct = np.concatenate([p[1:] for p in parts], axis=1)[:, np.argsort(order)].astype(bool)
    n = correct.shape[1]
    df = mark_inconclusive(load_table(run.robustness_csv))
    cells = at_budget(df[df["defense"] == defense], "linf", budget)
    cells = cells[~cells["inconclusive"].astype(bool) & cells["outcomes"].notna()]
    if cells.empty:
        raise SystemExit(f"no conclusive {defense} rows at Linf {budget:g} in {run.robustness_csv}")
    suite = np.logical_and.reduce([load_outcomes(run.robustness_csv, r).correct[:, :n].all(0)
                                   for _, r in cells.iterrows()])
    clean = df[(df["defense"] == defense) & (df["kind"] == "clean")].iloc[0]
    suite &= load_outcomes(run.robustness_csv, clean).correct[:, :n].all(0)
    print(f"{defense}: suite {', '.join(cells['attack'])}; {correct.shape[0]} scoring draws, {len(parts)} parts")
    return suite, suite & correct.all(0), correct.all(0).mean()


def combine(args: argparse.Namespace, budget: float) -> None:
    run = resolve_run("imagenet", {}, seed=0)
    with_it = {}
    for defense in args.defense.split(","):
        suite, both, alone = kept_images(run, args.out, defense, budget)
        with_it[defense] = both
        n = len(suite)
        for name, k in (("committed ensemble", int(suite.sum())), ("margin EOT-PGD 40 x 4 alone", round(alone * n)),
                        ("ensemble with it", int(both.sum()))):
            lo, hi = wilson_interval(k, n)
            print(f"  Linf {budget:.4f} {name}: {k / n:.3f} [{lo:.3f}, {hi:.3f}] (n={n}, worst case over draws, "
                  f"seed 0, {PARAMS})")
    if len(with_it) == 2:
        (a, ka), (b, kb) = with_it.items()
        only_a, only_b = int((ka & ~kb).sum()), int((kb & ~ka).sum())
        p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
        print(f"paired, ensemble with it: {a} {ka.mean():.3f}, {b} {kb.mean():.3f}; images kept only by {a}: "
              f"{only_a}, only by {b}: {only_b}; McNemar exact p = {p:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--defense", default="dynamic-N3", help="with --combine: one or two, comma-separated (paired)")
    ap.add_argument("--budget", type=float, default=4 / 255)
    ap.add_argument("--part", default="1/1")
    ap.add_argument("--combine", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("CNR_CACHE", Path.home() / ".cache" / "cnr"))
                    / "imagenet_margin_check")
    args = ap.parse_args()
    torch.set_num_threads(1)
    (combine if args.combine else run_part)(args, args.budget)


if __name__ == "__main__":
    main()

"""HopSkipJump's budget curve on the ImageNet legacy track, re-scored beside the attack's own view, from the rows.

Foolbox's binary search stops gamma / (d sqrt d) of the distance from the boundary (about 1.7e-8 at 224 px), finer
than float32 rounding, so the scoring pass (another batch size) can classify a point right that the attack's own
check called adversarial. On a deterministic model the re-scored curve and the attack's own view should agree; this
prints both, per defense and budget, for the `legacy-imagenet` run (its HopSkipJump steps each result the profile's
`boundary_margin` of its distance past the boundary) and, with `--margin m`, for the run with
`--set attacks.legacy-hsj.boundary_margin=m` beside it (m = 0 is Foolbox's own result), each with n, draws and 95%
Wilson intervals.

    .venv/bin/python benchmarks/hsj_boundary_margin.py [--margin 0]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hsj_boundary_margin.py --check [--images 4] [--seed 0]  # ~6 min

`--check` shows the cause directly instead: a short HopSkipJump on the bare EfficientNet-Lite0 (first protocol
images, one batch), then each output's logit margin (true class minus the best other; < 0: adversarial) in that
batch, one image at a time, and in a batch of 20 beside clean images, and the same after moving each output to
x + (1 + m)(x_adv - x) for m = 1e-5, 1e-4, 1e-3.
"""
from __future__ import annotations

import argparse

import pandas as pd
import torch

from cnr.attacks.base import margin as logit_margin
from cnr.legacy import kit_curves
from cnr.run import resolve_run


@torch.no_grad()
def check(images: int, seed: int) -> None:
    """The outputs of a short HopSkipJump scored in three batch compositions, before and after the margin step."""
    from cnr.attacks.hsj import hsj
    from cnr.eval.evaluator import make_evaluator

    ev = make_evaluator(resolve_run("legacy-imagenet"), n=20)
    model, x, y = ev.classifier.eval(), ev.x, ev.y
    b = min(images, len(x) - 1)
    torch.manual_seed(seed)  # Foolbox draws HopSkipJump's directions from torch's global generator
    x_adv, _, extra = hsj(model, x[:b], y[:b], torch.full((b,), float("inf")), "l2", unbounded=True, steps=4,
                          initial_gradient_eval_steps=25, init_steps=25)
    print(f"HopSkipJump, 4 steps, {int(extra['queries'][0])} queries an image, {b} images in one batch")
    fmt = lambda m: " ".join(f"{v:+.1e}" for v in m.tolist())
    beside = lambda a: model(torch.cat([a, x[b:]]))[:b]  # in a batch of 20, after the attacked images
    print(f"  margin, its own batch of {b}: {fmt(logit_margin(model(x_adv), y[:b]))}")
    print(f"  margin, one image at a time: {fmt(logit_margin(torch.cat([model(a[None]) for a in x_adv]), y[:b]))}")
    print(f"  margin, in a batch of 20:    {fmt(logit_margin(beside(x_adv), y[:b]))}")
    for m in (1e-5, 1e-4, 1e-3):
        moved = (x[:b] + (1 + m) * (x_adv - x[:b])).clamp(0, 1)
        print(f"  moved by m = {m:g}, batch of 20: {fmt(logit_margin(beside(moved), y[:b]))}")


def interval(df: pd.DataFrame, mean: str, lo: str, hi: str) -> list[str]:
    """'mean [lo, hi]' per row."""
    return [f"{a:.3f} [{b:.3f}, {c:.3f}]" for a, b, c in df[[mean, lo, hi]].to_numpy()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--margin", type=float, default=None, help="also the run with this boundary_margin")
    ap.add_argument("--check", action="store_true", help="run the short attack that shows the cause")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.check:
        check(args.images, args.seed)
        return
    run = resolve_run("legacy-imagenet")
    runs = {f"legacy-imagenet (boundary_margin {run.profile.attacks['hsj'].get('boundary_margin', 0.0):g})": run}
    if args.margin is not None:
        overrides = {"attacks.legacy-hsj.boundary_margin": args.margin}
        runs[f"boundary_margin {args.margin:g}"] = resolve_run("legacy-imagenet", overrides)
    for label, run in runs.items():
        print(f"{label}: {run.robustness_csv}")
    curves = kit_curves(runs)
    hsj = curves[curves["group"] == "legacy-hsj"] if not curves.empty else curves
    if hsj.empty:
        print("no HopSkipJump rows with their clean cells yet: run the cells first (cnr grid --profile "
              "legacy-imagenet, with --set for the margin run)")
        return
    table = pd.DataFrame({
        "track": hsj["track"], "defense": hsj["defense"], "budget": hsj["budget"], "n": hsj["n"],
        "draws": hsj["draws"], "re-scored [95%]": interval(hsj, "accuracy", "acc_lo", "acc_hi"),
        "attack's own view [95%]": interval(hsj, "attack_view_accuracy", "attack_view_lo", "attack_view_hi"),
        "queries (median)": hsj["queries_median"]})
    print(table.sort_values(["defense", "budget", "track"]).to_string(index=False))


if __name__ == "__main__":
    main()

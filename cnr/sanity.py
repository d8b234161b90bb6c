"""Carlini et al.'s sanity checks of an evaluation, run on the results table and on a few direct attacks."""
from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from cnr.evaluate import Evaluator, score
from cnr.profiles import Profile, get_profile


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "passed": bool(passed), "detail": detail}


def monotone_in_budget(df: pd.DataFrame, slack: float = 1.0) -> dict[str, Any]:
    """Accuracy must not rise with the budget (same defense, attack, norm); `slack` counts in images."""
    bad = []
    for key, g in df[df["budget"] > 0].groupby(["defense", "attack", "norm", "params"]):
        g = g.sort_values("budget")
        acc, n = g["worst_accuracy"].to_numpy(), g["n"].to_numpy()
        for i in range(1, len(g)):
            if acc[i] > acc[i - 1] + slack / n[i]:
                bad.append(f"{key[0]}/{key[1]}/{key[2]}: {acc[i - 1]:.3f} at {g['budget'].iloc[i - 1]:g} -> "
                           f"{acc[i]:.3f} at {g['budget'].iloc[i]:g}")
    return _check("accuracy non-increasing in the budget", not bad,
                  "; ".join(bad) if bad else f"{df['attack'].nunique()} attacks, all monotone")


def white_beats_black(df: pd.DataFrame, profile: Profile) -> dict[str, Any]:
    """On the undefended model, white-box PGD must do at least as well as the black-box attacks at the same budget."""
    none = df[df["defense"] == "none"]
    wb = none[(none["attack"] == "bpda-pgd") & (none["norm"] == "linf") & (none["budget"] == profile.ref_linf)]
    bb = none[none["attack"].isin(["square", "nattack"]) & (none["norm"] == "linf") & (none["budget"] == profile.ref_linf)]
    if wb.empty or bb.empty:
        return _check("white-box beats black-box (undefended)", False, "rows missing from the table")
    w, b = wb["accuracy"].iloc[0], bb["accuracy"].min()
    return _check("white-box beats black-box (undefended)", w <= b + 1 / wb["n"].iloc[0],
                  f"PGD {w:.3f} vs best black-box {b:.3f} at Linf {profile.ref_linf:g}")


def worst_below_mean(df: pd.DataFrame) -> dict[str, Any]:
    """For random defenses the worst case over draws can never exceed the mean."""
    bad = df[df["worst_accuracy"] > df["accuracy"] + 1e-6]  # (rows written before summarize summed in float64)
    return _check("worst case <= mean over draws", bad.empty, f"{len(bad)} rows violate it")


def direct_checks(ev: Evaluator, profile: Profile, n: int = 100) -> list[dict[str, Any]]:
    """Attacks run here: unbounded PGD reaches ~0% on the bare model; more steps never help; randomness detected."""
    from cnr.attacks import run_attack
    from cnr.defense import CompressRestore, Defended

    x, y = ev.x[:n], ev.y[:n]
    out = []
    res = run_attack("pgd", ev.classifier, x, y, 1.0, norm="linf", seed=ev.seed, steps=profile.pgd_steps)
    acc = score(ev.classifier, res.x_adv, y, 1).float().mean().item()
    out.append(_check("unbounded attack reaches ~0% (undefended)", acc <= 0.01, f"PGD Linf eps=1: {acc:.3f} (n={n})"))
    accs = []
    for steps in (max(1, profile.pgd_steps // 4), profile.pgd_steps):
        r = run_attack("pgd", ev.classifier, x, y, profile.ref_linf / 2, norm="linf", seed=ev.seed, steps=steps)
        accs.append(score(ev.classifier, r.x_adv, y, 1).float().mean().item())
    out.append(_check("more steps never raise accuracy (undefended)", accs[1] <= accs[0] + 1 / n,
                      f"PGD Linf {profile.ref_linf / 2:g}: {accs[0]:.3f} with fewer steps, {accs[1]:.3f} with more"))
    d = Defended(CompressRestore(ev.bank, profile.qf_range, 3, mode="dynamic", seed=ev.seed), ev.classifier)
    with torch.no_grad():
        a, b = d.defense(x[:8]), d.defense(x[:8])
    out.append(_check("the defense is detected as random", d.is_random and not torch.equal(a, b),
                      "two calls on the same input differ: evaluate with EOT and score the worst case over draws"))
    return out


def sanity_report(df: pd.DataFrame, ev: Evaluator | None = None, profile: str | Profile = "quick") -> pd.DataFrame:
    """All checks as a table (check, passed, detail); the direct ones only when an Evaluator is given."""
    p = get_profile(profile)
    rows = [monotone_in_budget(df), white_beats_black(df, p), worst_below_mean(df)]
    if ev is not None:
        rows += direct_checks(ev, p)
    return pd.DataFrame(rows)

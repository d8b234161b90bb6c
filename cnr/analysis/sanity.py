"""Carlini et al.'s sanity checks of an evaluation, run on the results table (by attack kind) and a few attacks."""
from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from cnr.eval.evaluator import Evaluator
from cnr.eval.scoring import score
from cnr.run import Run

WHITE_BOX_KINDS = ("white-box", "adaptive")


PASS, FAIL, MARKED = "pass", "FAIL", "marked"  # MARKED: not passed, and flagged in the table as designed


def _check(name: str, passed: bool, detail: str, marked: bool = False) -> dict[str, Any]:
    status = PASS if passed else MARKED if marked else FAIL
    return {"check": name, "passed": bool(passed), "status": status, "detail": detail}


def _at(df: pd.DataFrame, norm: str, budget: float) -> pd.DataFrame:
    return df[(df["norm"] == norm) & ((df["budget"] - budget).abs() < 1e-9)]


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
    swept = sorted(df[df["budget"] > 0]["attack"].unique())
    return _check("accuracy non-increasing in the budget", not bad,
                  "; ".join(bad) if bad else f"all monotone: {', '.join(swept)}")


def white_beats_black(df: pd.DataFrame) -> list[dict[str, Any]]:
    """On the undefended model, the best white-box attack must do at least as well as each black-box attack."""
    none = df[df["mode"] == "none"]
    out = []
    for (attack, norm, budget), bb in none[none["kind"] == "black-box"].groupby(["attack", "norm", "budget"]):
        wb = _at(none[none["kind"].isin(WHITE_BOX_KINDS)], norm, budget)
        name = f"white-box beats black-box {attack} (undefended, {norm} {budget:g})"
        if wb.empty:
            out.append(_check(name, False, "no white-box row at this budget"))
            continue
        w, b = wb["accuracy"].min(), bb["accuracy"].iloc[0]
        out.append(_check(name, w <= b + 1 / bb["n"].iloc[0], f"best white-box {w:.3f} vs {attack} {b:.3f}"))
    return out


def worst_below_mean(df: pd.DataFrame) -> dict[str, Any]:
    """For random defenses the worst case over draws can never exceed the mean."""
    bad = df[df["worst_accuracy"] > df["accuracy"] + 1e-6]
    which = f": {', '.join(bad['attack'].unique())}" if len(bad) else ""
    return _check("worst case <= mean over draws", bad.empty, f"{len(bad)} of {len(df)} rows violate it" + which)


def direct_checks(ev: Evaluator, n: int = 100) -> list[dict[str, Any]]:
    """Attacks run here: unbounded PGD reaches ~0% on the bare model; more steps never help; randomness detected."""
    from cnr.attacks import ATTACKS, run_attack
    from cnr.cells.groups import GROUPS
    from cnr.defenses import CompressRestore, Defended

    p = ev.run.profile
    steps = dict(GROUPS["bpda-pgd"].params(p)).get("steps", ATTACKS["pgd"].defaults["steps"])
    x, y = ev.x[:n], ev.y[:n]
    out = []
    res = run_attack("pgd", ev.classifier, x, y, 1.0, norm="linf", seed=ev.seed, steps=steps)
    acc = score(ev.classifier, res.x_adv, y, 1).float().mean().item()
    out.append(_check("unbounded attack reaches ~0% (undefended)", acc <= 0.01,
                      f"PGD Linf eps=1: {acc:.3f} (n={len(x)})"))
    accs = []
    for k in (max(1, steps // 4), steps):
        r = run_attack("pgd", ev.classifier, x, y, p.grid.ref_linf / 2, norm="linf", seed=ev.seed, steps=k)
        accs.append(score(ev.classifier, r.x_adv, y, 1).float().mean().item())
    out.append(_check("more steps never raise accuracy (undefended)", accs[1] <= accs[0] + 1 / n,
                      f"PGD Linf {p.grid.ref_linf / 2:g}, n={len(x)}: {accs[0]:.3f} with fewer steps, {accs[1]:.3f} "
                      "with more"))
    d = Defended(CompressRestore(ev.bank, p.grid.qf_range, 3, mode="dynamic", seed=ev.seed), ev.classifier)
    with torch.no_grad():
        a, b = d.defense(x[:8]), d.defense(x[:8])
    out.append(_check("the defense is detected as random", d.is_random and not torch.equal(a, b),
                      "two calls on the same input differ: evaluate with EOT and score the worst case over draws"))
    return out


def attacks_conclusive(df: pd.DataFrame, elsewhere: pd.DataFrame | None = None) -> dict[str, Any]:
    """Every attack must break the undefended model about as well as white-box PGD, or its rows say nothing; a weak
    row passes only when `elsewhere` (cnr.analysis.conclusive.conclusive_rows) has the attack's conclusive number."""
    from cnr.analysis.conclusive import pointer
    from cnr.analysis.ensemble import INCONCLUSIVE_GAP, mark_inconclusive

    m = mark_inconclusive(df)
    weak = m[(m["mode"] == "none") & m["inconclusive"].astype(bool)]
    notes, unresolved = [], 0
    for _, r in weak.iterrows():
        where = pointer(r, elsewhere) if elsewhere is not None else None
        unresolved += where is None
        notes.append(f"{r['attack']} {r['norm']} {r['budget']:g}: undefended {r['undefended_accuracy']:.3f} vs "
                     f"white-box {r['reference_accuracy']:.3f}; " + (where or "no conclusive run of it"))
    detail = ("rows marked inconclusive, excluded from the ensemble: " + "; ".join(notes)) if notes else \
        "all attacks conclusive"
    # the table marks the weak rows `inconclusive` and the ensemble leaves them out: flagged as designed, not failed
    return _check(f"every attack conclusive (undefended within {INCONCLUSIVE_GAP:.0%} of white-box PGD)",
                  unresolved == 0, detail, marked=True)


def sanity_report(df: pd.DataFrame, ev: Evaluator | None = None, elsewhere: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """All checks as a table (check, passed, detail); the direct ones only when an Evaluator is given; weak attacks
    pass when `elsewhere` holds their conclusive numbers."""
    from cnr.eval.identity import fill_older_columns

    df = fill_older_columns(df)  # a table of an older kit: mode and kind from its defenses and attacks
    rows = [monotone_in_budget(df), *white_beats_black(df), worst_below_mean(df), attacks_conclusive(df, elsewhere)]
    if ev is not None:
        rows += direct_checks(ev)
    return pd.DataFrame(rows)


def run_sanity(run: Run, df: pd.DataFrame) -> pd.DataFrame:
    """The sanity report of a run's table (its own rows only), with the direct attacks on its images and models."""
    from cnr.analysis.conclusive import conclusive_rows
    from cnr.eval.evaluator import make_evaluator
    from cnr.eval.identity import check_own_rows

    check_own_rows(df, run, run.robustness_csv)
    elsewhere = conclusive_rows(run.results_root, exclude=run.name)
    return sanity_report(df, make_evaluator(run), elsewhere)


def report_lines(report: pd.DataFrame, width: int = 100) -> list[str]:
    """The report as text within `width` columns: each check's status and name, its detail wrapped below it,
    and a last line that says what the exit status means."""
    import textwrap

    out = []
    for r in report.itertuples():
        out += textwrap.wrap(f"{r.status:<7}{r.check}", width, subsequent_indent=" " * 7)
        out += textwrap.wrap(str(r.detail), width, initial_indent=" " * 7, subsequent_indent=" " * 9)
    failed, marked = int((report["status"] == FAIL).sum()), int((report["status"] == MARKED).sum())
    if failed:
        verdict = f"{failed} of {len(report)} checks FAILED: the evaluation itself is suspect (exit status 1)"
    elif marked:
        verdict = (f"{len(report) - marked} of {len(report)} checks passed; {marked} flagged rows the table marks as "
                   f"designed (inconclusive attacks, excluded from the ensemble): not a failure (exit status 0)")
    else:
        verdict = f"all {len(report)} checks passed (exit status 0)"
    return out + textwrap.wrap(verdict, width)


def exit_status(report: pd.DataFrame) -> int:
    """1 when a check failed; 0 when every check passed or only flagged rows the table marks as designed."""
    return 1 if (report["status"] == FAIL).any() else 0

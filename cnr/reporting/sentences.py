"""Sentences read from the results tables, so that no notebook or README hard-codes a claim about the numbers."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cnr.reporting.select import at_budget, fixed_qf, main_defenses
from cnr.reporting.style import ordered


def describe_restoration_table(df: pd.DataFrame) -> str:
    """Per dataset and generator: where restored beats JPEG in PSNR and where it does not; accuracy effect."""
    lines = []
    for (dataset, gen), g in df.groupby(["dataset", "generator"], sort=False):
        win = g[g["psnr_restored"] > g["psnr_jpeg"]]["qf"].tolist()
        lose = g[g["psnr_restored"] <= g["psnr_jpeg"]]["qf"].tolist()
        gain = g["psnr_restored"] - g["psnr_jpeg"]
        s = (f"{dataset}, {gen} generator(s), n={int(g['n'].iloc[0])}: restored beats JPEG in PSNR at "
             f"{len(win)} of {len(g)} QFs (gain {gain.min():+.2f} to {gain.max():+.2f} dB)")
        if lose:
            s += f"; NOT at QF {', '.join(map(str, lose))}"
        if "acc_restored" in g and g["acc_restored"].notna().all():
            d = g["acc_restored"] - g["acc_jpeg"]
            s += (f". Classifier accuracy on restored minus on JPEG: {d.min():+.3f} to {d.max():+.3f} "
                  f"(clean {g['acc_clean'].iloc[0]:.3f})")
        lines.append(s + ".")
    return "\n".join(lines)


def _at(df: pd.DataFrame, defense: str, attack: str, norm: str | None = None,
        budget: float | None = None) -> pd.Series | None:
    m = (df["defense"] == defense) & (df["attack"] == attack)
    if norm is not None:
        m &= df["norm"] == norm
    if budget is not None:
        m &= (df["budget"] - budget).abs() < 1e-9
    rows = df[m]
    return None if rows.empty else rows.iloc[0]


def strongest_attacks(df: pd.DataFrame, norm: str, budget: float) -> pd.DataFrame:
    """Per defense: the attack (at this norm and budget) that leaves the lowest worst-case accuracy."""
    if df.empty:
        return pd.DataFrame()
    sub = df[(df["norm"] == norm) & ((df["budget"] - budget).abs() < 1e-9)]
    if sub.empty:
        return pd.DataFrame()
    idx = sub.groupby("defense")["worst_accuracy"].idxmin()
    out = sub.loc[idx, ["defense", "attack", "n", "accuracy", "worst_accuracy", "worst_lo", "worst_hi"]]
    return out.set_index("defense").loc[ordered(out["defense"])].reset_index()


def describe_grid(df: pd.DataFrame, ref_linf: float, ref_l2: float, defense: str = "dynamic-N3") -> str:
    """The grid's headline, read from the table: clean cost of the defense, then its accuracy under the strongest
    attack at each reference budget compared with the undefended model's."""
    if df.empty:
        return "The results table is empty: run `cnr grid` (or notebooks/03_attacks) first."
    lines = []
    c0, c1 = _at(df, "none", "clean"), _at(df, defense, "clean")
    if c0 is not None and c1 is not None:
        lines.append(f"Clean accuracy: {c0['accuracy']:.3f} without defense, {c1['accuracy']:.3f} with {defense} "
                     f"(worst case over {int(c1['draws'])} draws {c1['worst_accuracy']:.3f}; n={int(c1['n'])}).")
    for norm, b in (("linf", ref_linf), ("l2", ref_l2)):
        s = strongest_attacks(df, norm, b)
        if s.empty:
            continue
        s = s.set_index("defense")
        name = "L-inf" if norm == "linf" else "normalized L2"
        for d in ("none", defense):
            if d in s.index:
                r = s.loc[d]
                lines.append(f"{name} {b:g}: the strongest attack on {d} is {r['attack']}, worst-case accuracy "
                             f"{r['worst_accuracy']:.3f} (95% CI {r['worst_lo']:.3f}-{r['worst_hi']:.3f}, "
                             f"n={int(r['n'])}).")
        if "none" in s.index and defense in s.index:
            gap = s.loc[defense, "worst_accuracy"] - s.loc["none", "worst_accuracy"]
            lines.append(f"  -> at this budget the defense {'adds' if gap > 0 else 'does not add'} robustness "
                         f"against the strongest attack we ran ({gap:+.3f})"
                         f"{_noise_note(s.loc[defense], s.loc['none']) if gap > 0 else ''}.")
    return "\n".join(lines)


def describe_sanity(report: pd.DataFrame) -> str:
    """How many sanity checks passed, naming each failure and its detail."""
    status = report["status"] if "status" in report else report["passed"].map({True: "pass", False: "FAIL"})
    s = f"{int(report['passed'].sum())} of {len(report)} sanity checks passed."
    for r, st in zip(report.itertuples(), status):
        if st != "pass":
            s += (f"\nFAILED: {r.check}: {r.detail}" if st == "FAIL" else
                  f"\nMARKED (as designed, not a failure): {r.check}: {r.detail}")
    if (status == "FAIL").any():
        s += "\nA failed check means the evaluation itself is suspect (too few steps, a broken gradient, ...)."
    return s


def _overlap(a: pd.Series, b: pd.Series) -> bool:
    """Whether two rows' 95% intervals of the worst-case accuracy overlap (then the difference may be noise)."""
    return not (a["worst_lo"] > b["worst_hi"] or b["worst_lo"] > a["worst_hi"])


def _noise_note(a: pd.Series, b: pd.Series) -> str:
    return " (the 95% intervals overlap: not a clear difference at this n)" if _overlap(a, b) else ""


def budget_text(norm: str, budget: float) -> str:
    if budget == 0:
        return "no attack"
    if budget == float("inf"):
        return "unbounded"
    return f"{'L-inf' if norm == 'linf' else 'normalized L2'} {budget:g}"


def describe_attacks(df: pd.DataFrame, kinds: Sequence[str], defenses: Sequence[str] | None = None) -> str:
    """One line per (attack, norm, budget) of these kinds: worst-case accuracy of each main defense (and the median
    perturbation for minimal-perturbation attacks), read from the table; kinds with no rows are named."""
    if df.empty:
        return "no results yet: run notebooks/03_attacks.ipynb (or cnr grid)"
    defenses = list(defenses or main_defenses(df))
    attacks = list(dict.fromkeys(df[df["kind"].isin(kinds)]["attack"]))
    if not attacks:
        return f"no rows of kind {', '.join(kinds)} in the table"
    lines = []
    for attack in attacks:
        sub = df[(df["attack"] == attack) & df["defense"].isin(defenses)]
        if sub.empty:
            lines.append(f"{attack}: no rows in the table")
            continue
        for (norm, budget), g in sub.groupby(["norm", "budget"], sort=True):
            g = g.set_index("defense")
            cells = []
            for d in defenses:
                if d in g.index:
                    r = g.loc[d]
                    txt = f"{d} {r['worst_accuracy']:.3f}"
                    pert = r.get("min_pert_l2_median", float("nan"))
                    if budget == float("inf") and pd.notna(pert):
                        txt += f" (median L2 {pert:.3f})"
                    cells.append(txt)
            lines.append(f"{attack}, {budget_text(norm, budget)}, n={int(g['n'].iloc[0])}: " + ", ".join(cells))
    return "\n".join(lines)


def describe_ablation(df: pd.DataFrame, ref_linf: float, ref_l2: float, attack: str) -> str:
    """The ablation's story from the table: JPEG vs static vs dynamic, whether more rounds N help, fixed vs
    random QF."""
    if df.empty:
        return "no results yet: run notebooks/03_attacks.ipynb (or cnr grid)"
    lines = []
    for norm, b in (("linf", ref_linf), ("l2", ref_l2)):
        sub = at_budget(df[df["attack"] == attack], norm, b)
        if sub.empty:
            lines.append(f"{attack} at {budget_text(norm, b)}: no rows")
            continue
        row = sub.set_index("defense")
        main = [d for d in main_defenses(sub) if d != "none"]
        lines.append(f"{attack} at {budget_text(norm, b)} (worst case, n={int(sub['n'].iloc[0])}): "
                     + ", ".join(f"{d} {row.loc[d, 'worst_accuracy']:.3f}" for d in main))
        fixed = fixed_qf(sub)
        for mode in ("static", "dynamic"):
            by_n = sub[(sub["mode"] == mode) & ~fixed].sort_values("n_iter")
            if len(by_n) > 1:
                first, last = by_n.iloc[0], by_n.iloc[-1]
                trend = "higher" if last["worst_accuracy"] > first["worst_accuracy"] else "not higher"
                note = _noise_note(first, last) if last["worst_accuracy"] != first["worst_accuracy"] else ""
                lines.append(f"  {mode}: " + ", ".join(f"N={int(r.n_iter)}: {r.worst_accuracy:.3f}"
                                                       for r in by_n.itertuples())
                             + f" -> {trend} with N={int(last['n_iter'])} than with N={int(first['n_iter'])}{note}")
        for r in sub[fixed].itertuples():
            ref = sub[(sub["mode"] == r.mode) & (sub["n_iter"] == r.n_iter) & ~fixed]
            if not ref.empty:
                q = ref.iloc[0]
                note = _noise_note(row.loc[r.defense], q) if r.worst_accuracy != q["worst_accuracy"] else ""
                lines.append(f"  fixed QF {int(r.qf_lo)} vs random QF {int(q['qf_lo'])}-{int(q['qf_hi'])} "
                             f"({r.mode}, N={int(r.n_iter)}): "
                             f"{r.worst_accuracy:.3f} vs {q['worst_accuracy']:.3f}{note}")
    return "\n".join(lines)


def describe_ensemble(ens: pd.DataFrame, defenses: Sequence[str] | None = None) -> str:
    """What to quote: per budget, each defense's per-image robust accuracy over the whole suite, with its interval."""
    if ens.empty:
        return "no ensemble table yet: run the grid (it is written beside robustness.csv)"
    lines = ["Robust accuracy to quote (an image counts only if it survives every conclusive attack and every draw):"]
    for (norm, budget), g in ens.groupby(["norm", "budget"], sort=True):
        g = g.set_index("defense")
        names = [d for d in (defenses or ordered(g.index)) if d in g.index]
        cells = [f"{d} {g.loc[d, 'robust_accuracy']:.3f} [{g.loc[d, 'robust_lo']:.3f}, {g.loc[d, 'robust_hi']:.3f}]"
                 f" (n={int(g.loc[d, 'n'])}, {int(g.loc[d, 'attacks'])} attacks, most breaks: "
                 f"{g.loc[d, 'top_attack']})" for d in names]
        lines.append(f"  {budget_text(norm, budget)}: " + "; ".join(cells))
    return "\n".join(lines)

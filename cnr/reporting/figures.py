"""The paper's robustness figures drawn from the results tables alone, selected by attack kind and group flags
(PNG+PDF); the restorers' figures live in cnr.reporting.restoration_figures and are importable from here too."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from cnr.errors import MissingRows
from cnr.eval.identity import fill_older_columns, require_columns
from cnr.reporting.restoration_figures import (  # noqa: F401
    argan_training_figure,
    bank_restoration_figure,
    restoration_figure,
    restoration_per_qf_figure,
    training_curves,
)
from cnr.reporting.select import at_budget, attack_labels, fixed_qf, rows_of, swept_attacks, swept_defenses
from cnr.reporting.style import HATCHES, LINESTYLES, MARKERS, defense_style, legend_entries, ordered, setup_style
from cnr.reporting.tables import pert_column


def accuracy_vs_budget(df: pd.DataFrame, attacks: list[str], title: str = "", worst: bool = True) -> plt.Figure:
    """One panel per (attack, norm): accuracy against budget for each defense, with 95% intervals.

    Random defenses are drawn at their worst case over the scoring draws (solid) and their mean (faint).
    """
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    setup_style()
    sub = df[df["attack"].isin(attacks)]
    panels = list(dict.fromkeys(zip(sub["attack"], sub["norm"])))
    if not panels:
        raise MissingRows(f"no rows for attacks {attacks} in the table")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
    defenses = ordered(sub["defense"])
    for ax, (attack, norm) in zip(axes[0], panels):
        cell = sub[(sub["attack"] == attack) & (sub["norm"] == norm)]
        for d in defenses:
            rows = cell[cell["defense"] == d].sort_values("budget")
            if rows.empty:
                continue
            col, lo, hi = ("worst_accuracy", "worst_lo", "worst_hi") if worst else ("accuracy", "acc_lo", "acc_hi")
            st = defense_style(d)
            style = dict(marker=st["marker"], linestyle=st["linestyle"], color=st["color"])
            line, = ax.plot(rows["budget"], rows[col], label=d, **style)
            weak = rows[rows["inconclusive"].astype(bool)] if "inconclusive" in rows else rows.iloc[:0]
            if not weak.empty:  # too weak on the undefended model to say anything: hollow, never quoted
                ax.plot(weak["budget"], weak[col], linestyle="none", marker=st["marker"], markersize=11,
                        markerfacecolor="white", markeredgecolor=st["color"], label="inconclusive (hollow)")
            ax.fill_between(rows["budget"], rows[lo], rows[hi], alpha=0.12, color=line.get_color())
            if worst and rows["random_defense"].any():
                ax.plot(rows["budget"], rows["accuracy"], color=line.get_color(), alpha=0.35, linestyle=":")
        ax.set_title(f"{attack} ({'L∞' if norm == 'linf' else 'normalized L2'})")
        ax.set_xlabel("budget ε")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("accuracy (worst case over draws)" if worst else "accuracy")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def ablation_figure(df: pd.DataFrame, ref_linf: float, ref_l2: float) -> plt.Figure:
    """Accuracy against N at the reference budgets: static vs dynamic AR-GAN (lines), JPEG alone and no defense
    (horizontal lines), a fixed-QF dynamic defense (hollow marker); one panel per (attack, norm)."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    setup_style()
    sub = rows_of(df, "ablation", ablation=True)
    refs = [(norm, b) for norm, b in (("linf", ref_linf), ("l2", ref_l2)) if not at_budget(sub, norm, b).empty]
    if not refs:
        raise MissingRows("ablation: no ablation rows at the reference budgets")
    attacks = [a for a in attack_labels(sub)
               if any(not at_budget(sub[sub["attack"] == a], n, b).empty for n, b in refs)]
    white = df[(df["mode"] == "none") & df["kind"].isin(["white-box", "adaptive"])]
    fig, grid = plt.subplots(len(refs), len(attacks), figsize=(3.4 * len(attacks) + 1.8, 3.2 * len(refs)),
                             squeeze=False, sharey=True)
    for (r, (norm, b)), (c, attack) in ((rb, ac) for rb in enumerate(refs) for ac in enumerate(attacks)):
        ax = grid[r][c]
        cell = at_budget(sub[sub["attack"] == attack], norm, b)
        if cell.empty:
            ax.set_axis_off()
            continue
        fixed = fixed_qf(cell)
        for mode in ("static", "dynamic"):
            rows = cell[(cell["mode"] == mode) & ~fixed].sort_values("n_iter")
            if not rows.empty:
                ns = [n + (-0.06 if mode == "static" else 0.06) for n in rows["n_iter"]]  # error bars apart
                # arrays, not Series: matplotlib calls float() on a one-row Series (deprecated by pandas)
                err = [(rows["worst_accuracy"] - rows["worst_lo"]).clip(lower=0).to_numpy(),  # rounding in the CSV
                       (rows["worst_hi"] - rows["worst_accuracy"]).clip(lower=0).to_numpy()]
                ax.errorbar(ns, rows["worst_accuracy"].to_numpy(), yerr=err, capsize=3, label=f"{mode} AR-GAN",
                            **defense_style(f"{mode}-N3"))
        for r in cell[fixed].itertuples():
            ax.plot([r.n_iter], [r.worst_accuracy], marker="D", markerfacecolor="none", markersize=9,
                    linestyle="none", color="black", label=f"{r.mode} N={r.n_iter}, fixed QF {int(r.qf_lo)}")
        for mode, ls in (("jpeg", "--"), ("none", ":")):
            r = cell[cell["mode"] == mode]
            if mode == "none" and r.empty:  # the strongest white-box attack on the bare model at this budget
                r = at_budget(white, norm, b).sort_values("worst_accuracy")
            if not r.empty:
                ax.axhline(r["worst_accuracy"].iloc[0], color="gray" if mode == "jpeg" else "black", linestyle=ls,
                           label="JPEG only (N=1)" if mode == "jpeg" else "no defense")
        ax.set_title(f"{attack}, {'L∞' if norm == 'linf' else 'normalized L2'} {b:g}", fontsize=9)
        ax.set_xlabel("N (compress-restore rounds)")
        ax.set_ylim(-0.02, 1.02)
    for r in range(len(refs)):
        grid[r][0].set_ylabel("accuracy (worst case)")
    handles = legend_entries(grid.flat)
    grid[0][-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def bpda_figure(df: pd.DataFrame) -> plt.Figure:
    """The adaptive attacks with a budget sweep (BPDA, EOT-BPDA, ...): accuracy against budget, with and without
    the defense (the swept defenses only).

    An attack not run on the undefended model (EOT over a deterministic model is plain PGD) borrows the undefended
    curve of the adaptive attack that was."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    sub = rows_of(df, "adaptive attacks", kinds=("adaptive",))
    attacks = swept_attacks(sub)
    if not attacks:
        raise MissingRows("adaptive attacks: none was run at more than one budget")
    sub = sub[sub["attack"].isin(attacks) & sub["defense"].isin(swept_defenses(sub))]
    none = sub[sub["mode"] == "none"]
    if not none.empty:
        ref = none[none["attack"] == none["attack"].iloc[0]]
        sub = pd.concat([sub] + [ref.assign(attack=a) for a in attacks if none[none["attack"] == a].empty])
    return accuracy_vs_budget(sub, attacks)


def _grouped_bars(ax: plt.Axes, table: pd.DataFrame, group: str, value: str, err: tuple[str, str] | None = None
                  ) -> None:
    """Bars per defense (x), one hatched bar per `group` value, black edges: readable in grayscale."""
    defenses = ordered(table["defense"])
    groups = list(dict.fromkeys(table[group]))
    width = 0.8 / max(1, len(groups))
    for j, gname in enumerate(groups):
        rows = table[table[group] == gname].set_index("defense").reindex(defenses)
        xs = [i + (j - (len(groups) - 1) / 2) * width for i in range(len(defenses))]
        yerr = None
        if err is not None:
            yerr = [(rows[value] - rows[err[0]]).clip(lower=0).fillna(0),
                    (rows[err[1]] - rows[value]).clip(lower=0).fillna(0)]
        weak = rows["inconclusive"].fillna(False).astype(bool) if "inconclusive" in rows else rows[value] != rows[value]
        bars = ax.bar(xs, rows[value].fillna(0), width, yerr=yerr, capsize=2, label=gname,
                      hatch=HATCHES[j % len(HATCHES)], edgecolor="black", linewidth=0.6, color=f"C{j}", alpha=0.85)
        for bar, w in zip(bars, weak):
            if w:  # too weak on the undefended model to say anything: hollow, never quoted
                bar.set_facecolor("white")
                bar.set_linestyle("--")
    ax.set_xticks(range(len(defenses)))
    ax.set_xticklabels(defenses, rotation=30, ha="right")


def minimal_perturbation_figure(df: pd.DataFrame) -> plt.Figure:
    """Minimal-perturbation attacks: accuracy on their final adversarials (left) and the median perturbation size."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    setup_style()
    sub = rows_of(df, "minimal perturbation", kinds=("minimal",))
    col = pert_column(sub)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _grouped_bars(axes[0], sub, "attack", "worst_accuracy", ("worst_lo", "worst_hi"))
    axes[0].set_ylabel("accuracy (worst case over draws)")
    axes[0].set_ylim(0, 1.02)
    _grouped_bars(axes[1], sub, "attack", col)
    axes[1].set_ylabel("median perturbation, normalized L2" + ("" if col == "min_pert_l2_median" else " (final)"))
    axes[1].legend(frameon=False)
    fig.tight_layout()
    return fig


def blackbox_figure(df: pd.DataFrame) -> plt.Figure:
    """Black-box attacks on the full defended model: accuracy vs budget if several budgets were run, else bars per
    defense at the reference budget, clean accuracy beside them."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    setup_style()
    sub = rows_of(df, "black-box", kinds=("black-box",))
    if swept_attacks(sub):
        return accuracy_vs_budget(sub, attack_labels(sub))
    clean = df[(df["kind"] == "clean") & df["defense"].isin(set(sub["defense"]))]
    bars = pd.concat([clean.assign(group="clean"),
                      sub.assign(group=[f"{a} ({'L∞' if n == 'linf' else 'L2'} {b:g})"
                                        for a, n, b in zip(sub["attack"], sub["norm"], sub["budget"])])])
    fig, ax = plt.subplots(figsize=(9, 3.8))
    _grouped_bars(ax, bars, "group", "worst_accuracy", ("worst_lo", "worst_hi"))
    ax.set_ylabel("accuracy (worst case over draws)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def ensemble_figure(ens: pd.DataFrame) -> plt.Figure:
    """What to quote: per-image robust accuracy over the whole suite against budget, one panel per norm, with the
    majority-vote view (dotted) beside the worst case over draws (solid)."""
    setup_style()
    if ens.empty:
        raise MissingRows("ensemble: no ensemble table (run the grid)")
    norms = list(dict.fromkeys(ens["norm"]))
    fig, axes = plt.subplots(1, len(norms), figsize=(4.6 * len(norms), 3.6), squeeze=False, sharey=True)
    for ax, norm in zip(axes[0], norms):
        cell = ens[ens["norm"] == norm]
        for d in ordered(cell["defense"]):
            rows = cell[cell["defense"] == d].sort_values("budget")
            if len(rows) < 2:
                continue  # single ablation points belong to the ablation figure
            st = defense_style(d)
            ax.plot(rows["budget"], rows["robust_accuracy"], marker=st["marker"], linestyle=st["linestyle"],
                    color=st["color"], label=d)
            ax.fill_between(rows["budget"], rows["robust_lo"], rows["robust_hi"], alpha=0.12, color=st["color"])
            ax.plot(rows["budget"], rows["majority_accuracy"], color=st["color"], alpha=0.4, linestyle=":")
        ax.set_title(f"every attack, every draw ({'L∞' if norm == 'linf' else 'normalized L2'})")
        ax.set_xlabel("budget ε")
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("robust accuracy (per image)")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def convergence_figure(conv: pd.DataFrame) -> plt.Figure:
    """Accuracy (worst case over draws and restarts) against PGD steps, EOT samples and restarts, with intervals."""
    setup_style()
    if conv.empty:
        raise MissingRows("convergence: no rows (run benchmarks/convergence.py)")
    conv = conv if "loss" in conv.columns else conv.assign(loss="ce")  # a table from before the loss sweep
    sweeps = [s for s in ("steps", "eot", "restarts") if s in set(conv["sweep"])]
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.3 * len(sweeps), 3.6), squeeze=False, sharey=True)
    for ax, sweep in zip(axes[0], sweeps):
        sub = conv[conv["sweep"] == sweep]
        for i, ((d, norm, b, loss), g) in enumerate(sub.groupby(["defense", "norm", "budget", "loss"], sort=True)):
            g = g.sort_values("value")
            st = defense_style(d)
            ls = LINESTYLES[i % len(LINESTYLES)]
            label = f"{d}, {'L∞' if norm == 'linf' else 'L2'} {b:g}" + (", margin" if loss == "margin" else "")
            ax.errorbar(g["value"], g["worst_accuracy"], yerr=[(g["worst_accuracy"] - g["worst_lo"]).clip(lower=0),
                                                              (g["worst_hi"] - g["worst_accuracy"]).clip(lower=0)],
                        marker=st["marker"], linestyle=ls, color=st["color"], capsize=2, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel({"steps": "PGD steps", "eot": "EOT samples per step", "restarts": "random restarts"}[sweep])
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("accuracy (worst case)")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def paired_figure(paired: pd.DataFrame) -> plt.Figure:
    """Dynamic minus static on the same images, with paired 95% intervals: one row per attack cell, one marker per
    bank; right of zero means switching generators helped."""
    setup_style()
    if require_columns(paired, ("attack", "defense_a", "defense_b", "norm", "budget", "diff", "diff_lo", "diff_hi"),
                       "paired table").empty:
        raise MissingRows("paired: no paired static-vs-dynamic rows (run the grid)")
    t = paired[paired["attack"] != "clean"].copy()
    several = t[["defense_a", "defense_b"]].drop_duplicates().shape[0] > 1  # e.g. N = 1, 3, 5: name each pair
    t["label"] = [(f"{db} vs {da}: " if several else "") + f"{a}, {'L∞' if n == 'linf' else 'L2'} {b:g}"
                  + (" (inconclusive)" if bool(i) else "")
                  for da, db, a, n, b, i in zip(t["defense_a"], t["defense_b"], t["attack"], t["norm"], t["budget"],
                                                t["inconclusive"])]
    labels = list(dict.fromkeys(t.sort_values(["defense_a", "attack", "norm", "budget"])["label"]))
    banks = list(dict.fromkeys(t["bank"])) if "bank" in t else [""]
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(labels) + 1.2))
    for k, bank in enumerate(banks):
        sub = t[t["bank"] == bank] if bank else t
        y = [labels.index(lab) + (k - (len(banks) - 1) / 2) * 0.25 for lab in sub["label"]]
        ax.errorbar(sub["diff"].to_numpy(), y, xerr=[(sub["diff"] - sub["diff_lo"]).clip(lower=0).to_numpy(),
                                                     (sub["diff_hi"] - sub["diff"]).clip(lower=0).to_numpy()],
                    fmt=MARKERS[k % len(MARKERS)], capsize=2, linestyle="none", label=f"{bank} bank" if bank else None)
    ax.axvline(0, color="0.4", linewidth=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy: dynamic minus static (same images)")
    if banks != [""]:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig

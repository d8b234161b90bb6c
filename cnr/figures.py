"""Plots and tables of the paper, drawn from the results tables alone (and saved as PNG+PDF / CSV+MD+LaTeX)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

# Readable in grayscale print: every defense gets a marker and a dash pattern as well as a colour.
DEFENSE_ORDER = ["none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3", "dynamic-N5"]
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]


def setup_style() -> None:
    """One consistent, print-friendly look."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)


def save_figure(fig: plt.Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Save a figure as PNG (300 dpi) and PDF."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=300, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths


def save_table(df: pd.DataFrame, out_dir: str | Path, name: str, floatfmt: str = ".3f") -> list[Path]:
    """Save a table as CSV, Markdown and LaTeX."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.csv", out_dir / f"{name}.md", out_dir / f"{name}.tex"]
    df.to_csv(paths[0], index=False, float_format="%.4f")
    paths[1].write_text(df.to_markdown(index=False, floatfmt=floatfmt) + "\n")
    paths[2].write_text(df.to_latex(index=False, float_format=lambda v: format(v, floatfmt), escape=True))
    return paths


def _ordered(values: Iterable[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    return [d for d in DEFENSE_ORDER if d in values] + [d for d in values if d not in DEFENSE_ORDER]


def accuracy_vs_budget(df: pd.DataFrame, attacks: list[str], title: str = "", worst: bool = True) -> plt.Figure:
    """One panel per (attack, norm): accuracy against budget for each defense, with 95% intervals.

    Random defenses are drawn at their worst case over the scoring draws (solid) and their mean (faint).
    """
    setup_style()
    sub = df[df["attack"].isin(attacks)]
    panels = list(dict.fromkeys(zip(sub["attack"], sub["norm"])))
    if not panels:
        raise MissingRows(f"no rows for attacks {attacks} in the table")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
    defenses = _ordered(sub["defense"])
    for ax, (attack, norm) in zip(axes[0], panels):
        cell = sub[(sub["attack"] == attack) & (sub["norm"] == norm)]
        for i, d in enumerate(defenses):
            rows = cell[cell["defense"] == d].sort_values("budget")
            if rows.empty:
                continue
            col, lo, hi = ("worst_accuracy", "worst_lo", "worst_hi") if worst else ("accuracy", "acc_lo", "acc_hi")
            st = defense_style(d)
            style = dict(marker=st["marker"], linestyle=st["linestyle"], color=st["color"])
            line, = ax.plot(rows["budget"], rows[col], label=d, **style)
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


def summary_table(df: pd.DataFrame, attacks: list[str] | None = None) -> pd.DataFrame:
    """A wide table: rows (attack, norm, budget), one column per defense, cells 'mean / worst' accuracy."""
    sub = df if attacks is None else df[df["attack"].isin(attacks)]
    sub = sub.assign(cell=[f"{m:.3f} / {w:.3f}" for m, w in zip(sub["accuracy"], sub["worst_accuracy"])])
    wide = sub.pivot_table(index=["attack", "norm", "budget"], columns="defense", values="cell", aggfunc="first")
    return wide[_ordered(wide.columns)].reset_index()


def restoration_figure(df: pd.DataFrame) -> plt.Figure:
    """PSNR and SSIM of JPEG vs restored images per QF, one line per dataset."""
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric in zip(axes, ("psnr", "ssim")):
        for i, (dataset, rows) in enumerate(df.groupby("dataset", sort=False)):
            rows = rows.sort_values("qf")
            mk = MARKERS[i % len(MARKERS)]  # a marker per dataset; hollow dashed JPEG, filled solid restored
            ax.plot(rows["qf"], rows[f"{metric}_jpeg"], marker=mk, markerfacecolor="none", linestyle="--",
                    label=f"{dataset}: JPEG", color=f"C{i}")
            ax.plot(rows["qf"], rows[f"{metric}_restored"], marker=mk, linestyle="-", label=f"{dataset}: restored",
                    color=f"C{i}")
        ax.set_xlabel("JPEG quality factor")
        ax.set_ylabel(metric.upper() + (" (dB)" if metric == "psnr" else ""))
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


# --- the paper's figures from the results tables (notebooks/04_figures) ------------------------------------

HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]
LINESTYLES = ["-", "--", "-.", ":"]


class MissingRows(ValueError):
    """The results table lacks the rows a figure or table needs (a partial or a smaller grid)."""


def defense_style(name: str) -> dict[str, object]:
    """The same marker, dash pattern and colour for a defense in every figure (readable in grayscale)."""
    order = DEFENSE_ORDER + [n for n in ("static-N2", "dynamic-N2") if n not in DEFENSE_ORDER]
    i = order.index(name) if name in order else len(order) + sum(map(ord, name)) % 7
    return dict(marker=MARKERS[i % len(MARKERS)], linestyle=LINESTYLES[i % 4], color=f"C{i % 10}")


def parse_defense(name: str) -> tuple[str, int, int | None]:
    """'dynamic-N3' -> ('dynamic', 3, None); 'dynamic-N3-qf40' -> ('dynamic', 3, 40); 'none' -> ('none', 0, None)."""
    parts = name.split("-")
    if parts[0] in ("none", "jpeg") and len(parts) == 1:
        return parts[0], 0 if parts[0] == "none" else 1, None
    n = int(parts[1][1:]) if len(parts) > 1 and parts[1][:1] == "N" and parts[1][1:].isdigit() else 0
    qf = int(parts[2][2:]) if len(parts) > 2 and parts[2].startswith("qf") and parts[2][2:].isdigit() else None
    return parts[0], n, qf


def _rows(df: pd.DataFrame, attacks: Iterable[str], what: str) -> pd.DataFrame:
    """The rows of these attacks, or MissingRows naming what could not be drawn."""
    attacks = list(attacks)
    sub = df[df["attack"].isin(attacks)] if not df.empty else df
    if sub.empty:
        raise MissingRows(f"{what}: no rows for {', '.join(attacks)} in the results table")
    return sub


def _at_budget(df: pd.DataFrame, norm: str, budget: float) -> pd.DataFrame:
    return df[(df["norm"] == norm) & ((df["budget"] - budget).abs() < 1e-9)]


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV table, or an empty frame if the file is not there yet."""
    path = Path(path)
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def training_curves(history: pd.DataFrame, x: str = "epoch",
                    panels: tuple[tuple[str, str], ...] = (("loss", "training loss"), ("test_acc", "test accuracy"))
                    ) -> plt.Figure:
    """One panel per logged quantity of a training history (e.g. a weights file's metadata)."""
    setup_style()
    panels = tuple((c, t) for c, t in panels if c in history)
    if history.empty or not panels:
        raise MissingRows("the weights file carries no training history")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (col, title) in zip(axes[0], panels):
        ax.plot(history[x], history[col], marker="o", linestyle="-", color="C0")
        ax.set_xlabel(x)
        ax.set_ylabel(title)
    fig.tight_layout()
    return fig


def argan_training_figure(history: pd.DataFrame) -> plt.Figure:
    """Per dataset: validation PSNR gain over JPEG (restored minus JPEG, dB) against training step, one line per QF."""
    setup_style()
    if history.empty or not {"psnr", "psnr_jpeg", "step"} <= set(history.columns):
        raise MissingRows("the bank files carry no validation history")
    datasets = list(dict.fromkeys(history["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        rows = history[history["dataset"] == ds]
        qfs = sorted(rows["qf"].unique(), key=lambda q: (not q.isdigit(), int(q) if q.isdigit() else 0))
        for i, qf in enumerate(qfs):
            r = rows[rows["qf"] == qf].sort_values("step")
            ax.plot(r["step"], r["psnr"] - r["psnr_jpeg"], marker=MARKERS[i % len(MARKERS)],
                    linestyle=LINESTYLES[i % 4], label=f"QF {qf}" if qf.isdigit() else qf)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"AR-GAN bank: {ds}")
        ax.set_xlabel("training step")
        ax.set_ylabel("PSNR restored - JPEG (dB)")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


RESTORATION_COLUMNS = ["dataset", "generator", "qf", "n", "psnr_jpeg", "psnr_restored", "psnr_gain", "ssim_jpeg",
                       "ssim_restored", "acc_jpeg", "acc_restored"]


def restoration_summary(rest: pd.DataFrame) -> pd.DataFrame:
    """The restoration table's main columns (the paper's AR-GAN table)."""
    if rest.empty:
        raise MissingRows("restoration.csv is missing or empty: run notebooks/02_argan (or cnr restoration-table)")
    return rest[[c for c in RESTORATION_COLUMNS if c in rest]].reset_index(drop=True)


def restoration_per_qf_figure(rest: pd.DataFrame) -> plt.Figure:
    """`restoration_figure` on the per-QF generators (the static one is a single generator for all QFs)."""
    rest = restoration_summary(rest)
    return restoration_figure(rest[rest["generator"] == "per-qf"] if "generator" in rest else rest)


ABLATION_ATTACKS = ["generalized-bpda-pgd", "bpda-pgd", "eot-bpda-pgd"]


def ablation_table(df: pd.DataFrame, ref_linf: float, ref_l2: float) -> pd.DataFrame:
    """Worst-case accuracy at the reference budgets of every defense (JPEG, static/dynamic, N, fixed QF) under the
    BPDA family: rows (attack, norm, budget), one column per defense, cells 'mean / worst'."""
    sub = _rows(df, ABLATION_ATTACKS, "ablation")
    sub = pd.concat([_at_budget(sub, "linf", ref_linf), _at_budget(sub, "l2", ref_l2)])
    if sub.empty:
        raise MissingRows("ablation: no BPDA rows at the reference budgets")
    return summary_table(sub)


def ablation_figure(df: pd.DataFrame, ref_linf: float, ref_l2: float) -> plt.Figure:
    """Accuracy against N at the reference budgets: static vs dynamic AR-GAN (lines), JPEG alone and no defense
    (horizontal lines), a fixed-QF dynamic defense (hollow marker); one panel per (attack, norm)."""
    setup_style()
    sub = _rows(df, ABLATION_ATTACKS, "ablation")
    refs = [(norm, b) for norm, b in (("linf", ref_linf), ("l2", ref_l2)) if not _at_budget(sub, norm, b).empty]
    attacks = [a for a in ABLATION_ATTACKS if any(not _at_budget(sub[sub["attack"] == a], n, b).empty for n, b in refs)]
    if not refs:
        raise MissingRows("ablation: no BPDA rows at the reference budgets")
    fig, grid = plt.subplots(len(refs), len(attacks), figsize=(3.4 * len(attacks) + 1.8, 3.2 * len(refs)),
                             squeeze=False, sharey=True)
    for (r, (norm, b)), (c, attack) in ((rb, ac) for rb in enumerate(refs) for ac in enumerate(attacks)):
        ax = grid[r][c]
        cell = _at_budget(sub[sub["attack"] == attack], norm, b)
        if cell.empty:
            ax.set_axis_off()
            continue
        parsed = {d: parse_defense(d) for d in cell["defense"]}
        for mode in ("static", "dynamic"):
            names = sorted((d for d, (m, _, q) in parsed.items() if m == mode and q is None),
                           key=lambda d: parsed[d][1])
            if names:
                rows = cell.set_index("defense").loc[names]
                ns = [parsed[d][1] + (-0.06 if mode == "static" else 0.06) for d in names]  # error bars apart
                err = [(rows["worst_accuracy"] - rows["worst_lo"]).clip(lower=0),  # rounding in the CSV
                       (rows["worst_hi"] - rows["worst_accuracy"]).clip(lower=0)]
                ax.errorbar(ns, rows["worst_accuracy"], yerr=err, capsize=3, label=f"{mode} AR-GAN",
                            **defense_style(f"{mode}-N3"))
        for d, (m, n, q) in parsed.items():
            if q is not None:
                r = cell[cell["defense"] == d].iloc[0]
                ax.plot([n], [r["worst_accuracy"]], marker="D", markerfacecolor="none", markersize=9, linestyle="none",
                        color="black", label=f"{m} N={n}, fixed QF {q}")
        for d, ls in (("jpeg", "--"), ("none", ":")):
            r = cell[cell["defense"] == d]
            if d == "none" and r.empty and attack != "bpda-pgd":
                r = _at_budget(df[(df["attack"] == "bpda-pgd") & (df["defense"] == "none")], norm, b)
            if not r.empty:
                ax.axhline(r["worst_accuracy"].iloc[0], color="gray" if d == "jpeg" else "black", linestyle=ls,
                           label="JPEG only (N=1)" if d == "jpeg" else "no defense")
        ax.set_title(f"{attack}, {'L∞' if norm == 'linf' else 'normalized L2'} {b:g}", fontsize=9)
        ax.set_xlabel("N (compress-restore rounds)")
        ax.set_ylim(-0.02, 1.02)
    handles = {}
    for r in range(len(refs)):
        grid[r][0].set_ylabel("accuracy (worst case)")
        for ax in grid[r]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
    grid[0][-1].legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def swept_defenses(df: pd.DataFrame) -> list[str]:
    """Defenses with more than one budget in the table (the others are single ablation points)."""
    counts = df[df["budget"] > 0].groupby(["defense", "norm"])["budget"].nunique().groupby("defense").max()
    return _ordered(counts[counts > 1].index)


def bpda_figure(df: pd.DataFrame) -> plt.Figure:
    """BPDA and EOT-BPDA: accuracy against budget with and without the defense (the swept defenses only).

    EOT over a deterministic model is plain PGD, so the undefended curve of the EOT panels is BPDA-PGD's."""
    sub = _rows(df, ["bpda-pgd", "eot-bpda-pgd"], "BPDA / EOT-BPDA")
    keep = swept_defenses(sub)
    sub = sub[sub["defense"].isin(keep)]
    none = sub[(sub["attack"] == "bpda-pgd") & (sub["defense"] == "none")]
    if not none.empty and (sub["attack"] == "eot-bpda-pgd").any() and \
            sub[(sub["attack"] == "eot-bpda-pgd") & (sub["defense"] == "none")].empty:
        sub = pd.concat([sub, none.assign(attack="eot-bpda-pgd")])
    return accuracy_vs_budget(sub, ["bpda-pgd", "eot-bpda-pgd"])


def _pert_column(sub: pd.DataFrame) -> str:
    """The attack's own minimal perturbation size if it reported one, else the measured final perturbation."""
    if "min_pert_l2_median" in sub and sub["min_pert_l2_median"].notna().any():
        return "min_pert_l2_median"
    return "pert_l2_median"


def minimal_perturbation_table(df: pd.DataFrame) -> pd.DataFrame:
    """C&W and DeepFool per defense: accuracy on the final adversarials (mean / worst over draws) and the median
    normalized L2 size of the perturbation they needed."""
    sub = _rows(df, ["cw", "deepfool"], "C&W / DeepFool")
    col = _pert_column(sub)
    out = sub[["attack", "defense", "n", "accuracy", "worst_accuracy", col]].rename(columns={col: "median_l2_pert"})
    out["defense"] = pd.Categorical(out["defense"], _ordered(out["defense"]), ordered=True)
    out = out.sort_values(["attack", "defense"]).reset_index(drop=True)
    return out.assign(defense=out["defense"].astype(str))


def _grouped_bars(ax: plt.Axes, table: pd.DataFrame, group: str, value: str, err: tuple[str, str] | None = None
                  ) -> None:
    """Bars per defense (x), one hatched bar per `group` value, black edges: readable in grayscale."""
    defenses = _ordered(table["defense"])
    groups = list(dict.fromkeys(table[group]))
    width = 0.8 / max(1, len(groups))
    for j, gname in enumerate(groups):
        rows = table[table[group] == gname].set_index("defense").reindex(defenses)
        xs = [i + (j - (len(groups) - 1) / 2) * width for i in range(len(defenses))]
        yerr = None
        if err is not None:
            yerr = [(rows[value] - rows[err[0]]).clip(lower=0).fillna(0),
                    (rows[err[1]] - rows[value]).clip(lower=0).fillna(0)]
        ax.bar(xs, rows[value].fillna(0), width, yerr=yerr, capsize=2, label=gname, hatch=HATCHES[j % len(HATCHES)],
               edgecolor="black", linewidth=0.6, color=f"C{j}", alpha=0.85)
    ax.set_xticks(range(len(defenses)))
    ax.set_xticklabels(defenses, rotation=30, ha="right")


def minimal_perturbation_figure(df: pd.DataFrame) -> plt.Figure:
    """C&W and DeepFool: accuracy on their final adversarials (left) and the median perturbation size (right)."""
    setup_style()
    sub = _rows(df, ["cw", "deepfool"], "C&W / DeepFool")
    col = _pert_column(sub)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _grouped_bars(axes[0], sub, "attack", "worst_accuracy", ("worst_lo", "worst_hi"))
    axes[0].set_ylabel("accuracy (worst case over draws)")
    axes[0].set_ylim(0, 1.02)
    _grouped_bars(axes[1], sub, "attack", col)
    axes[1].set_ylabel("median perturbation, normalized L2" + ("" if col == "min_pert_l2_median" else " (final)"))
    axes[1].legend(frameon=False)
    fig.tight_layout()
    return fig


BLACKBOX_ATTACKS = ["square", "nattack", "hsj"]


def blackbox_table(df: pd.DataFrame) -> pd.DataFrame:
    """Square, Nattack and HopSkipJump (and clean accuracy): 'mean / worst' accuracy per defense."""
    _rows(df, BLACKBOX_ATTACKS, "black-box")
    return summary_table(df, ["clean"] + BLACKBOX_ATTACKS)


def blackbox_figure(df: pd.DataFrame) -> plt.Figure:
    """Black-box attacks on the full defended model: accuracy vs budget if several budgets were run, else bars per
    defense at the reference budget, clean accuracy beside them."""
    setup_style()
    sub = _rows(df, BLACKBOX_ATTACKS, "black-box")
    if (sub.groupby(["attack", "norm"])["budget"].nunique() > 1).any():
        return accuracy_vs_budget(sub, BLACKBOX_ATTACKS)
    clean = df[(df["attack"] == "clean") & df["defense"].isin(set(sub["defense"]))]
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


def save_output(kind: str, name: str, build, *args, out_dir: str | Path, **kwargs):
    """Build a figure ('figure') or table ('table') and save it; on MissingRows print a note and return None."""
    try:
        obj = build(*args, **kwargs)
    except MissingRows as e:
        print(f"skipped {kind} {name!r}: {e}")
        return None
    paths = save_figure(obj, out_dir, name) if kind == "figure" else save_table(obj, out_dir, name)
    print(f"{kind} {name}: " + ", ".join(str(p) for p in paths))
    return obj


def bpda_table(df: pd.DataFrame) -> pd.DataFrame:
    """The gradient-based attacks through the defense (BPDA, EOT-BPDA, differentiable JPEG) and the oblivious PGD."""
    attacks = ["bpda-pgd", "eot-bpda-pgd", "eot-diffjpeg-pgd", "oblivious-pgd"]
    return summary_table(_rows(df, attacks, "BPDA table"), attacks)

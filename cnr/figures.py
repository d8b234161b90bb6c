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
        raise ValueError(f"no rows for attacks {attacks} in the table")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
    defenses = _ordered(sub["defense"])
    for ax, (attack, norm) in zip(axes[0], panels):
        cell = sub[(sub["attack"] == attack) & (sub["norm"] == norm)]
        for i, d in enumerate(defenses):
            rows = cell[cell["defense"] == d].sort_values("budget")
            if rows.empty:
                continue
            col, lo, hi = ("worst_accuracy", "worst_lo", "worst_hi") if worst else ("accuracy", "acc_lo", "acc_hi")
            style = dict(marker=MARKERS[i % len(MARKERS)], linestyle=["-", "--", "-.", ":"][i % 4])
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
            ax.plot(rows["qf"], rows[f"{metric}_jpeg"], marker="o", linestyle="--", label=f"{dataset}: JPEG",
                    color=f"C{i}")
            ax.plot(rows["qf"], rows[f"{metric}_restored"], marker="s", linestyle="-", label=f"{dataset}: restored",
                    color=f"C{i}")
        ax.set_xlabel("JPEG quality factor")
        ax.set_ylabel(metric.upper() + (" (dB)" if metric == "psnr" else ""))
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig

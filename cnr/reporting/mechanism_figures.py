"""Figures of cnr.mechanism's tables, one per measurement, with their 95% intervals, readable in grayscale."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# kit imports, in one block (these modules are moving into packages)
from cnr.errors import MissingRows, unknown_name
from cnr.reporting.style import defense_style, save_figure, setup_style

# A marker and a dash pattern per mode, as well as a colour (the kit's styles of the N=3 defenses).
MODE_STYLE = {"none": dict(marker="o", linestyle=":", color="black"), "jpeg": defense_style("jpeg"),
              **{m: {**defense_style(f"{m}-N3"), "linestyle": ls} for m, ls in (("static", "--"), ("dynamic", "-"))}}


def _need(df: pd.DataFrame, what: str, cols: set[str]) -> None:
    if df.empty or not cols <= set(df.columns):
        raise MissingRows(f"{what}: the table is empty or lacks {sorted(cols - set(df.columns))}")


def _err(rows: pd.DataFrame) -> list[np.ndarray]:
    below = (rows["value"] - rows["lo"]).clip(lower=0).to_numpy()
    above = (rows["hi"] - rows["value"]).clip(lower=0).to_numpy()
    return [below, above]


def _by_mode(ax: plt.Axes, rows: pd.DataFrame, x: str, modes: tuple[str, ...], shift: float = 0.05) -> None:
    """One error-bar line per mode against column x, nudged apart so the intervals do not hide each other."""
    for i, mode in enumerate(modes):
        r = rows[rows["mode"] == mode].sort_values(x)
        if not r.empty:
            ax.errorbar(r[x] + (i - (len(modes) - 1) / 2) * shift, r["value"], yerr=_err(r), capsize=3,
                        label=mode, **MODE_STYLE[mode])


def gradient_cosine_figure(df: pd.DataFrame) -> plt.Figure:
    """Cross-draw cosine of BPDA gradients against N, per mode; the same-draw check printed in the title."""
    _need(df, "gradient cosine", {"metric", "mode", "N", "value", "lo", "hi", "qf_range"})
    setup_style()
    cross = df[(df["metric"] == "cross-draw") & (df["mode"] != "none")]
    ranges = list(dict.fromkeys(cross["qf_range"]))
    fig, axes = plt.subplots(1, len(ranges), figsize=(4.2 * len(ranges), 3.4), squeeze=False, sharey=True)
    for ax, qr in zip(axes[0], ranges):
        _by_mode(ax, cross[cross["qf_range"] == qr], "N", ("jpeg", "static", "dynamic"))
        ax.set_title(f"QF range {qr}", fontsize=9)
        ax.set_xlabel("N (compress-restore rounds)")
        ax.set_xticks(sorted(cross["N"].unique()))
    same = df[df["metric"] == "same-draw"]["value"]
    axes[0][0].set_ylabel("cosine of gradients, two draws")
    axes[0][-1].legend(frameon=False)
    fig.suptitle(f"BPDA gradient agreement across draws (same draw: min {same.min():.6f})", fontsize=10)
    fig.tight_layout()
    return fig


def eot_alignment_figure(df: pd.DataFrame) -> plt.Figure:
    """Alignment of the k-draw EOT gradient with the reference gradient against k, one line per defense."""
    _need(df, "EOT alignment", {"defense", "k", "value", "lo", "hi", "draws"})
    setup_style()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for name, rows in df.groupby("defense", sort=False):
        rows = rows.sort_values("k")
        st = defense_style(str(name))
        ax.errorbar(rows["k"], rows["value"], yerr=_err(rows), capsize=3, label=name, marker=st["marker"],
                    linestyle=st["linestyle"], color=st["color"])
    ax.set_xscale("log", base=2)
    ks = sorted(df["k"].unique())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("draws averaged (EOT samples k)")
    ax.set_ylabel(f"cosine with the {int(df['draws'].iloc[0])}-draw reference")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def generator_divergence_figure(df: pd.DataFrame) -> plt.Figure:
    """Heatmaps of the per-image RMSE (in 8-bit levels) between all outputs on one JPEG image, one per input QF."""
    _need(df, "generator divergence", {"input_qf", "a", "b", "value"})
    setup_style()
    qfs = sorted(df["input_qf"].unique())
    cols = min(3, len(qfs))
    rows_n = -(-len(qfs) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 4.2 * rows_n), squeeze=False)
    names = list(dict.fromkeys(df["a"]))
    vmax = df["value"].max() * 255
    for ax, q in zip(axes.flat, qfs):
        m = df[df["input_qf"] == q].pivot(index="a", columns="b", values="value").loc[names, names] * 255
        im = ax.imshow(m.to_numpy(), cmap="Greys", vmin=0, vmax=vmax)
        for (i, j), v in np.ndenumerate(m.to_numpy()):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6, color="white" if v > vmax / 2 else "black")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.grid(False)
        ax.set_title(f"input JPEG at QF {q}", fontsize=9)
    for ax in list(axes.flat)[len(qfs):]:
        ax.set_axis_off()
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="RMSE (8-bit levels)")
    return fig


def smoothing_figure(df: pd.DataFrame) -> plt.Figure:
    """Perturbation ratio ||D(x+d)-D(x)||/||d|| and label flips per defense, one marker per perturbation."""
    _need(df, "smoothing", {"defense", "metric", "delta", "norm", "size", "value", "lo", "hi"})
    setup_style()
    defenses = list(dict.fromkeys(df["defense"]))
    kinds = list(dict.fromkeys(zip(df["delta"], df["norm"], df["size"])))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    markers = ["o", "s", "^", "D", "v", "P"]
    for ax, metric, label in zip(axes, ("ratio", "flip"), ("||D(x+δ) − D(x)|| / ||δ||", "fraction of labels changed")):
        for i, (kind, norm, size) in enumerate(kinds):
            r = df[(df["metric"] == metric) & (df["delta"] == kind) & (df["norm"] == norm) & (df["size"] == size)]
            r = r.set_index("defense").loc[[d for d in defenses if d in set(r["defense"])]].reset_index()
            x = np.array([defenses.index(d) for d in r["defense"]]) + (i - (len(kinds) - 1) / 2) * 0.12
            ax.errorbar(x, r["value"], yerr=_err(r), capsize=2, linestyle="none", marker=markers[i % len(markers)],
                        markerfacecolor="none" if kind == "gaussian" else None, color=f"C{i}",
                        label=f"{kind} {norm} {size:g}")
        ax.set_xticks(range(len(defenses)), defenses, rotation=30, ha="right")
        ax.set_ylabel(label)
    axes[0].axhline(1, color="black", linewidth=0.8, linestyle=":")
    axes[1].set_ylim(-0.03, 1.03)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


FIGURES = {"gradient_cosine": gradient_cosine_figure, "eot_alignment": eot_alignment_figure,
           "generator_divergence": generator_divergence_figure, "smoothing": smoothing_figure}


def save_mechanism_figures(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Draw and save (PNG + PDF) the figure of every measurement table given, keyed as in FIGURES."""
    paths = []
    for key, table in tables.items():
        if key not in FIGURES:
            raise unknown_name("mechanism table", key, FIGURES)
        fig = FIGURES[key](table)
        paths += save_figure(fig, out_dir, f"mechanism_{key}")
        plt.close(fig)
    return paths

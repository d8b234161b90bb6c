"""Figures of the restorers: PSNR and SSIM of JPEG vs restored images per QF, the banks' gains and the classifier's
accuracy on what they restore, and training histories (PNG+PDF)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from cnr.errors import MissingRows
from cnr.reporting.style import LINESTYLES, MARKERS, setup_style
from cnr.reporting.tables import restoration_summary


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


def restoration_per_qf_figure(rest: pd.DataFrame) -> plt.Figure:
    """`restoration_figure` on the per-QF generators (the static one is a single generator for all QFs)."""
    rest = restoration_summary(rest)
    return restoration_figure(rest[rest["generator"] == "per-qf"] if "generator" in rest else rest)


def bank_restoration_figure(rest: pd.DataFrame) -> plt.Figure:
    """PSNR gain over JPEG per QF (paired 95% intervals) and the classifier's accuracy on restored vs JPEG images,
    one line per bank and generator (per-QF solid, static dashed): do the banks restore, and does it matter?"""
    setup_style()
    if rest.empty or "bank" not in rest:
        raise MissingRows("bank restoration: no rows with a bank column (cnr.study.bank_restoration)")
    fig, (gain, acc) = plt.subplots(1, 2, figsize=(10.4, 3.6))
    for k, (bank, sub) in enumerate(rest.groupby("bank", sort=False)):
        for generator, ls in (("per-qf", "-"), ("static", "--")):
            rows = sub[sub["generator"] == generator].sort_values("qf")
            if rows.empty:
                continue
            label = f"{bank} {generator}"
            line = gain.errorbar(rows["qf"], rows["psnr_gain"], yerr=rows["psnr_gain_ci"], capsize=3, linestyle=ls,
                                 marker=MARKERS[k % len(MARKERS)], label=label)[0]
            if "acc_restored" in rows:
                acc.plot(rows["qf"], rows["acc_restored"], linestyle=ls, marker=MARKERS[k % len(MARKERS)],
                         color=line.get_color(), label=label)
                acc.fill_between(rows["qf"], rows["acc_restored_lo"], rows["acc_restored_hi"], alpha=0.1,
                                 color=line.get_color())
    jpeg = rest.drop_duplicates("qf").sort_values("qf")
    if "acc_jpeg" in jpeg:
        acc.plot(jpeg["qf"], jpeg["acc_jpeg"], color="black", linestyle=":", marker="x", label="JPEG alone")
    gain.axhline(0, color="0.4", linewidth=0.8)
    gain.set_xlabel("JPEG quality factor")
    gain.set_ylabel("PSNR restored - JPEG (dB)")
    acc.set_xlabel("JPEG quality factor")
    acc.set_ylabel("classifier accuracy")
    acc.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig

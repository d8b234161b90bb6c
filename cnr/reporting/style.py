"""The kit's look: one print-friendly style, a fixed marker/dash/colour per defense, saving figures as PNG+PDF."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from cnr.atomic import atomic_path

# Readable in grayscale print: every defense gets a marker and a dash pattern as well as a colour.
DEFENSE_ORDER = ["none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3", "dynamic-N5"]
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">"]


def setup_style() -> None:
    """One consistent, print-friendly look."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)


def save_figure(fig: plt.Figure, out_dir: str | Path, name: str, dpi: int = 300) -> list[Path]:
    """Save a figure as PNG (300 dpi: plots; photo panels need no more than their own pixels) and PDF (no creation
    date, so a rerun that draws the same figure leaves the committed file unchanged)."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    with atomic_path(paths[0]) as tmp:  # the temporary's name has no image suffix: the format is given
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})  # same figure, same bytes
    return paths


HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]
LINESTYLES = ["-", "--", "-.", ":"]


def defense_style(name: str) -> dict[str, object]:
    """The same marker, dash pattern and colour for a defense in every figure (readable in grayscale)."""
    order = DEFENSE_ORDER + [n for n in ("static-N2", "dynamic-N2") if n not in DEFENSE_ORDER]
    i = order.index(name) if name in order else len(order) + sum(map(ord, name)) % 7
    return dict(marker=MARKERS[i % len(MARKERS)], linestyle=LINESTYLES[i % 4], color=f"C{i % 10}")


def ordered(values: Iterable[str]) -> list[str]:
    """Defense names in the kit's fixed order, unknown ones after."""
    values = list(dict.fromkeys(values))
    return [d for d in DEFENSE_ORDER if d in values] + [d for d in values if d not in DEFENSE_ORDER]


def legend_entries(axes: Iterable[plt.Axes]) -> dict[str, object]:
    """One handle per label across panels, first seen first: a curve drawn in every panel is named once."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return entries

"""The views of one defense at the legacy budgets (cnr.analysis.three_views) drawn and said: the authors' black-box
protocol as they ran it, the same attacks once they account for the randomness, and the white-box ensemble."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cnr.errors import MissingRows
from cnr.reporting.sentences import budget_text
from cnr.reporting.style import legend_entries, setup_style

COLORS = {"as published": "#8c8c8c", "randomness handled": "#e08214", "randomness handled, k x queries": "#b35806",
          "white-box": "#2c7bb6"}  # the views of cnr.analysis.three_views


def three_views_figure(views: pd.DataFrame, published: pd.DataFrame | None = None) -> plt.Figure:
    """Accuracy vs normalized L2 budget, one panel per (track, defended defense): each view's mean over draws with its
    95% Wilson band, and the legacy table's published values of the same defense kind as open markers."""
    defended = views[views["mode"] != "none"] if not views.empty else views
    if defended.empty:
        raise MissingRows("no view of a defended model yet: run the legacy grids (make legacy)")
    setup_style()
    panels = list(dict.fromkeys(zip(defended["track"], defended["defense"])))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), sharey=True, squeeze=False)
    for ax, (track, defense) in zip(axes.flat, panels):
        sub = defended[(defended["track"] == track) & (defended["defense"] == defense)]
        for view, color in COLORS.items():
            d = sub[sub["view"] == view].sort_values("budget")
            if d.empty:
                continue
            ax.plot(d["budget"], d["accuracy"], "-o", color=color, ms=4, label=view)
            ax.fill_between(d["budget"], d["acc_lo"], d["acc_hi"], color=color, alpha=0.15)
            weak = d[d["inconclusive"].astype("boolean").fillna(False).astype(bool)]
            if len(weak):
                ax.plot(weak["budget"], weak["accuracy"], "x", color="black", ms=7,
                        label="inconclusive (too weak on the bare model)")
        if published is not None:
            pub = published[(published["mode"] == sub["mode"].iloc[0]) & (published["budget"] > 0)]
            for marker, (attack, p) in zip("os", pub.groupby("attack", sort=False)):
                ax.plot(p["budget"], p["accuracy"], marker, mfc="none", color="black", ms=5,
                        label=f"published, {attack}")
        ax.set_title(f"{defense} · {track}", fontsize=9)
        ax.set_xlabel("normalized L2 budget")
        ax.set_ylim(-0.02, 1.02)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("accuracy (mean over draws)")
    legend = legend_entries(axes.flat)
    fig.tight_layout()
    fig.legend(list(legend.values()), list(legend), loc="upper center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    return fig


def views_sentences(views: pd.DataFrame, budget: float = 0.05) -> str:
    """Per track and defended defense at `budget` (a table without it: its budget nearest above): each view's mean
    over draws with its interval, the worst case, its attacks and whether it is conclusive."""
    defended = views[views["mode"] != "none"] if not views.empty else views
    if not defended.empty and not np.isclose(defended["budget"], budget).any():
        budget = float(min(defended["budget"], key=lambda b: (b < budget, abs(b - budget))))
    at = defended[np.isclose(defended["budget"], budget)] if not defended.empty else defended
    if at.empty:
        return f"no view at {budget_text('l2', budget)} yet: run the legacy grids (make legacy)"
    lines = []
    order = {v: i for i, v in enumerate(COLORS)}
    for (track, defense), g in at.groupby(["track", "defense"], sort=False):
        lines.append(f"{track}, {defense}, {budget_text('l2', budget)}:")
        for r in sorted(g.to_dict("records"), key=lambda r: order.get(r["view"], len(order))):
            flag = r["inconclusive"]
            weak = (" NOT CHECKED on the bare model" if pd.isna(flag) else "" if not bool(flag) else
                    f" INCONCLUSIVE: the bare model keeps {r['undefended_accuracy']:.3f} under it, "
                    f"{r['reference_accuracy']:.3f} under white-box attacks; not evidence")
            lines.append(f"  {r['view']}: {r['accuracy']:.3f} [{r['acc_lo']:.3f}, {r['acc_hi']:.3f}] (n={int(r['n'])}, "
                         f"worst of {int(r['draws'])} draws {r['worst_accuracy']:.3f}; {r['attacks']}){weak}")
    return "\n".join(lines)

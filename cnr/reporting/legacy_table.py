"""The legacy black-box table (the only robustness numbers published for the defense) beside the kit's curves under the
same protocol: one row per cell with the published value, the kit's interval and whether the two are within chance,
a figure of accuracy vs budget, and the sentences notebook 06 prints."""
from __future__ import annotations

from importlib import resources

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from cnr.errors import MissingRows
from cnr.reporting.sentences import budget_text
from cnr.reporting.style import defense_style, legend_entries, setup_style

PUBLISHED_FILE = "legacy_blackbox.csv"  # cnr/shipped/: transcribed with its source column
PUBLISHED_CLASSIFIER, PUBLISHED_DATA = "ResNet-50", "ImageNet val"
ALPHA = 0.05  # within chance: Fisher's exact p >= ALPHA
PUBLISHED_ATTACKS = ("HopSkipJump", "Square (L2)")  # the legacy table's attacks (cnr.legacy.ATTACKS names them so)
MODE_ORDER = ["none", "jpeg", "dynamic"]
MODE_LABEL = {"none": "no defense", "jpeg": "JPEG QF 40", "dynamic": "compress-restore N=3"}


def load_published() -> pd.DataFrame:
    """The legacy table as shipped: attack, defense, mode, budget (0: clean), accuracy (a fraction), n, source."""
    with resources.files("cnr").joinpath("shipped", PUBLISHED_FILE).open(encoding="utf-8") as f:
        df = pd.read_csv(f)
    return df.assign(accuracy=df["accuracy_percent"] / 100).drop(columns="accuracy_percent")


def _fisher(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    return float(fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]]).pvalue)


def side_by_side(curves: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Every kit curve point that the legacy table has a cell for (same attack, defense mode and budget), with the
    published value, the kit's mean over draws and its 95% Wilson interval, the worst case over draws, whether the
    published value lies in the interval, Fisher's exact test of the two proportions (kit k = the mean over draws
    rounded, published k of its n = 1,000) and `differs`: what the kit's track changes."""
    cols = ["track", "attack", "defense", "mode", "budget", "published", "kit", "kit_lo", "kit_hi", "n", "draws",
            "kit_worst", "in_interval", "fisher_p", "within_chance", "inconclusive", "differs"]
    if curves.empty:
        return pd.DataFrame(columns=cols)
    pub = published.set_index(["attack", "mode", "budget"])
    rows = []
    for r in curves.to_dict("records"):  # `inconclusive` (cnr.legacy.mark_weak) is carried over where present
        key = (r["attack"], r["mode"], round(float(r["budget"]), 4))
        if key not in pub.index:
            continue
        p = pub.loc[key]
        n, k_pub = int(r["n"]), int(round(p["accuracy"] * p["n"]))
        kit = float(r["accuracy"])
        p_value = _fisher(int(round(kit * n)), n, k_pub, int(p["n"]))
        differs = [f"{r['classifier']} on {r['dataset']}, not {PUBLISHED_CLASSIFIER} on {PUBLISHED_DATA}",
                   f"n = {n}, not {int(p['n'])}"]
        if r["defense"].startswith("dynamic-N") and "bank" not in r["defense"]:
            differs.append("every QF's restorer, not only 20/40/60")
        rows.append(dict(track=r["track"], attack=r["attack"], defense=r["defense"], mode=r["mode"],
                         budget=float(r["budget"]), published=float(p["accuracy"]), kit=kit, kit_lo=r["acc_lo"],
                         kit_hi=r["acc_hi"], n=n, draws=int(r["draws"]), kit_worst=r["worst_accuracy"],
                         in_interval=bool(r["acc_lo"] - 1e-9 <= p["accuracy"] <= r["acc_hi"] + 1e-9),
                         fisher_p=p_value, within_chance=p_value >= ALPHA,
                         inconclusive=r.get("inconclusive", pd.NA), differs="; ".join(differs)))
    out = pd.DataFrame(rows, columns=cols)
    out["inconclusive"] = out["inconclusive"].astype("boolean")  # NA: not checked on the bare model
    return out


def side_by_side_figure(side: pd.DataFrame) -> plt.Figure:
    """Accuracy vs normalized L2 budget: one row of panels per track, HopSkipJump and Square; the published curve
    dashed with open markers, the kit's solid with its 95% Wilson band, one colour per defense."""
    if side.empty:
        raise MissingRows("no kit rows match a cell of the legacy table yet: run the legacy grids (make legacy)")
    setup_style()
    tracks, attacks = list(dict.fromkeys(side["track"])), PUBLISHED_ATTACKS
    fig, axes = plt.subplots(len(tracks), 2, figsize=(10, 3.4 * len(tracks)), sharey=True, squeeze=False)
    published = load_published()
    for i, track in enumerate(tracks):
        for j, attack in enumerate(attacks):
            ax = axes[i, j]
            sub = side[(side["track"] == track) & (side["attack"] == attack)]
            for mode in [m for m in MODE_ORDER if m in set(sub["mode"])]:
                pub = published[(published["attack"] == attack) & (published["mode"] == mode)].sort_values("budget")
                color = defense_style({"none": "none", "jpeg": "jpeg"}.get(mode, "dynamic-N3"))["color"]
                ax.plot(pub["budget"], pub["accuracy"], "--", marker="o", mfc="none", color=color, alpha=0.8,
                        label=f"published, {MODE_LABEL[mode]}")
                for k, (defense, d) in enumerate(sub[sub["mode"] == mode].groupby("defense", sort=False)):
                    d = d.sort_values("budget")
                    ax.plot(d["budget"], d["kit"], "-:"[k % 2], marker="s^"[k % 2], color=color,
                            label=f"kit, {defense}", alpha=1.0 if k == 0 else 0.6)  # a second layout, dotted
                    ax.fill_between(d["budget"], d["kit_lo"], d["kit_hi"], color=color, alpha=0.12)
                    weak = d[d["inconclusive"].astype("boolean").fillna(False).astype(bool)]
                    if len(weak):
                        ax.plot(weak["budget"], weak["kit"], "x", color="black", ms=7,
                                label="kit, inconclusive (too weak on the bare model)")
            ax.set_title(f"{attack} · {track}", fontsize=10)
            ax.set_xlabel("normalized L2 budget")
            ax.set_ylim(-0.02, 1.02)
            if j == 0:
                ax.set_ylabel("accuracy")
    legend = legend_entries(axes.flat)  # every mode and panel marks its inconclusive points: named once
    fig.tight_layout()
    fig.legend(list(legend.values()), list(legend), loc="upper center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))  # below the axes
    return fig


def legacy_sentences(side: pd.DataFrame, budget: float = 0.05) -> str:
    """Per track and attack: each defense at `budget`, published vs the kit (interval, Fisher p), and how many of
    the track's cells are within chance of the published value."""
    if side.empty:
        return "no kit rows match a cell of the legacy table yet: run the legacy grids (make legacy)"
    lines = []
    for track, t in side.groupby("track", sort=False):
        lines.append(f"{track} ({t['differs'].iloc[0].split(';')[0]}): {int(t['within_chance'].sum())} of {len(t)} "
                     f"cells within chance of the published value (Fisher's exact p >= {ALPHA}).")
        at = t[np.isclose(t["budget"], budget)]
        for (attack, defense), r in at.groupby(["attack", "defense"], sort=False):
            r = r.iloc[0]
            flag = r.get("inconclusive", pd.NA)
            weak = ("; not checked on the bare model" if pd.isna(flag) else
                    "; INCONCLUSIVE: too weak on the bare model" if bool(flag) else "")
            lines.append(f"  {attack}, {defense}, {budget_text('l2', budget)}: published {r['published']:.3f}, kit "
                         f"{r['kit']:.3f} [{r['kit_lo']:.3f}, {r['kit_hi']:.3f}] (n={int(r['n'])}, worst of "
                         f"{int(r['draws'])} draws {r['kit_worst']:.3f}; p = {r['fisher_p']:.3g}{weak})")
    return "\n".join(lines)

"""cnr.reporting.legacy_views: the views of a defense at the legacy budgets (cnr.analysis.three_views) drawn and
said, with inconclusive and unchecked views marked."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from cnr.errors import MissingRows
from cnr.reporting.legacy_views import three_views_figure, views_sentences
from cnr.stats import wilson_interval


def views(values: dict[tuple[str, str, float], tuple[float, object]], n: int = 50) -> pd.DataFrame:
    """values[(view, defense, budget)] = (accuracy, inconclusive)."""
    out = []
    for (view, defense, budget), (acc, weak) in values.items():
        lo, hi = wilson_interval(round(acc * n), n)
        out.append(dict(track="t", defense=defense, mode="none" if defense == "none" else "dynamic", budget=budget,
                        view=view, attacks="a,b", n=n, draws=5, accuracy=acc, acc_lo=lo, acc_hi=hi,
                        worst_accuracy=acc / 2, worst_lo=0.0, worst_hi=1.0, undefended_accuracy=0.75,
                        reference_accuracy=0.235, inconclusive=weak))
    df = pd.DataFrame(out)
    df["inconclusive"] = df["inconclusive"].astype("boolean")
    return df


def test_the_sentences_give_every_view_and_say_which_are_no_evidence():
    text = views_sentences(views({("as published", "dyn", 0.05): (0.9, True), ("white-box", "dyn", 0.05): (0.1, False),
                                  ("randomness handled", "dyn", 0.05): (0.5, pd.NA)})).splitlines()
    assert text[0] == "t, dyn, normalized L2 0.05:"
    assert "as published: 0.900" in text[1] and "INCONCLUSIVE: the bare model keeps 0.750 under it, 0.235" in text[1]
    assert "randomness handled: 0.500" in text[2] and "NOT CHECKED" in text[2]
    assert "white-box: 0.100" in text[3] and "INCONCLUSIVE" not in text[3] and "NOT CHECKED" not in text[3]


def test_the_sentences_fall_back_to_the_budget_nearest_above_the_headline():
    v = views({("as published", "dyn", 0.1): (0.9, False), ("as published", "dyn", 0.3): (0.7, False),
               ("as published", "dyn", 0.01): (1.0, False)})
    assert views_sentences(v).splitlines()[0] == "t, dyn, normalized L2 0.1:"
    assert views_sentences(v[v["mode"] == "none"]).startswith("no view at")


def test_the_figure_has_a_panel_per_defended_model_marks_weak_points_and_refuses_an_empty_table():
    v = views({("as published", "dyn", 0.05): (0.9, True), ("as published", "dyn", 0.08): (0.7, pd.NA),
               ("white-box", "dyn", 0.05): (0.2, False), ("as published", "none", 0.05): (0.0, False)})
    fig = three_views_figure(v)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1  # the bare model is no defense to draw
    labels = axes[0].get_legend_handles_labels()[1]
    assert labels.count("inconclusive (too weak on the bare model)") == 1  # only where flagged, not where unchecked
    plt.close(fig)
    fig = three_views_figure(v[v["inconclusive"].fillna(True) == False])  # noqa: E712 (a boolean column)
    assert "inconclusive (too weak on the bare model)" not in fig.axes[0].get_legend_handles_labels()[1]
    plt.close(fig)
    with pytest.raises(MissingRows, match="no view of a defended model"):
        three_views_figure(v[v["mode"] == "none"])

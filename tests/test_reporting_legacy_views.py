"""cnr.reporting.legacy_views: the three views of a defense at the legacy budgets (the protocol's attacks, the
randomness-aware ones, the white-box ensemble), the strongest attack per view, the figure and the sentences."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from cnr.errors import MissingRows
from cnr.reporting.legacy_views import three_views, three_views_figure, views_sentences
from cnr.stats import wilson_interval


def rows(values: dict[tuple[str, str, float], float], n: int = 50) -> pd.DataFrame:
    out = []
    for (attack, defense, budget), acc in values.items():
        lo, hi = wilson_interval(round(acc * n), n)
        out.append(dict(track="t", defense=defense, mode="none" if defense == "none" else "dynamic", attack=attack,
                        budget=budget, n=n, draws=5, accuracy=acc, acc_lo=lo, acc_hi=hi, worst_accuracy=acc / 2,
                        worst_lo=0.0, worst_hi=1.0))
    return pd.DataFrame(out)


def white(values: dict[tuple[str, float], float], n: int = 50) -> pd.DataFrame:
    df = rows({("x", d, b): v for (d, b), v in values.items()}, n)
    return df.drop(columns="attack").assign(attacks="legacy-bpda-pgd,legacy-eot-bpda-pgd")


def test_each_view_keeps_its_strongest_attack_at_the_white_box_budgets():
    curves = rows({("HopSkipJump", "dynamic-N3", 0.05): 0.9, ("Square (L2)", "dynamic-N3", 0.05): 0.8,
                   ("HopSkipJump", "dynamic-N3", 0.06): 0.85,  # no white-box cell at 0.06: left out
                   ("HopSkipJump, 3-draw majority", "dynamic-N3", 0.05): 0.5,
                   ("Square (L2), loss over 3 draws", "dynamic-N3", 0.05): 0.6,
                   ("HopSkipJump", "dynamic-N3", 0.0): 0.95})  # the clean point is no view
    views = three_views(curves, white({("dynamic-N3", 0.05): 0.1}))
    got = {r["view"]: (r["accuracy"], r["strongest"]) for r in views.to_dict("records")}
    assert got == {"as published": (0.8, "Square (L2)"), "randomness handled": (0.5, "HopSkipJump, 3-draw majority"),
                   "white-box": (0.1, "legacy-bpda-pgd,legacy-eot-bpda-pgd")}
    text = views_sentences(views)
    assert text.splitlines()[0] == "t, dynamic-N3, normalized L2 0.05:"
    assert "randomness handled: 0.500" in text and "white-box: 0.100" in text


def test_without_white_box_cells_every_budget_stays_and_no_randomness_view_is_invented():
    views = three_views(rows({("HopSkipJump", "dynamic-N3", 0.06): 0.85, ("Square (L2)", "none", 0.05): 0.3}),
                        pd.DataFrame())
    assert set(views["view"]) == {"as published"} and sorted(views["budget"]) == [0.05, 0.06]
    assert three_views(pd.DataFrame(), pd.DataFrame()).empty


def test_the_figure_has_a_panel_per_defended_model_and_refuses_an_empty_table():
    views = three_views(rows({("HopSkipJump", "dynamic-N3", 0.05): 0.9, ("HopSkipJump", "dynamic-N3", 0.08): 0.7,
                              ("HopSkipJump", "none", 0.05): 0.0}), pd.DataFrame())
    fig = three_views_figure(views)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1  # the bare model is no defense to draw
    plt.close(fig)
    with pytest.raises(MissingRows, match="no view of a defended model"):
        three_views_figure(views[views["mode"] == "none"])
    assert views_sentences(views[views["mode"] == "none"]).startswith("no view at")


def test_the_sentences_fall_back_to_the_budget_nearest_above_the_headline():
    views = three_views(rows({("HopSkipJump", "dynamic-N3", 0.1): 0.9, ("HopSkipJump", "dynamic-N3", 0.3): 0.7,
                              ("HopSkipJump", "dynamic-N3", 0.01): 1.0}), pd.DataFrame())
    assert views_sentences(views).splitlines()[0] == "t, dynamic-N3, normalized L2 0.1:"


def test_a_view_is_inconclusive_only_if_every_attack_of_it_is():
    curves = rows({("HopSkipJump", "dynamic-N3", 0.05): 0.9, ("Square (L2)", "dynamic-N3", 0.05): 0.95,
                   ("HopSkipJump, 3-draw majority", "dynamic-N3", 0.05): 0.7})
    curves["inconclusive"] = [True, False, True]
    views = three_views(curves, pd.DataFrame()).set_index("view")
    # the weak HopSkipJump gives the lower number, which still bounds the robustness; Square makes the view conclusive
    assert views.loc["as published", "strongest"] == "HopSkipJump" and not views.loc["as published", "inconclusive"]
    assert views.loc["randomness handled", "inconclusive"]
    assert "INCONCLUSIVE" in views_sentences(views.reset_index()).splitlines()[2]

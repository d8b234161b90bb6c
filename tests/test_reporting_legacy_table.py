"""cnr.reporting.legacy_table: the published legacy table as shipped, the side-by-side cells with their chance test,
the figure and the sentences."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from cnr.errors import MissingRows
from cnr.reporting.legacy_table import legacy_sentences, load_published, side_by_side, side_by_side_figure


def test_the_published_table_as_transcribed():
    pub = load_published()
    assert len(pub) == 42 and set(pub["n"]) == {1000} and pub["source"].str.contains("10.1145/3524619").all()
    at = pub.set_index(["attack", "mode", "budget"])["accuracy"]
    assert at[("HopSkipJump", "dynamic", 0.05)] == pytest.approx(0.944)
    assert at[("Square (L2)", "dynamic", 0.05)] == pytest.approx(0.912)
    assert at[("HopSkipJump", "none", 0.01)] == pytest.approx(0.209)
    assert at[("Square (L2)", "jpeg", 0.0)] == pytest.approx(0.994)
    for _, curve in pub.groupby(["attack", "mode"]):  # every published curve falls with the budget
        assert curve.sort_values("budget")["accuracy"].is_monotonic_decreasing


def curves(kit: dict[tuple[str, str, float], float], n: int = 200) -> pd.DataFrame:
    from cnr.stats import wilson_interval

    rows = []
    for (attack, defense, budget), acc in kit.items():
        lo, hi = wilson_interval(round(acc * n), n)
        mode = defense.split("-")[0]
        rows.append(dict(track="fmnist quick bank", dataset="fmnist", classifier="fmnist-cnn", defense=defense,
                         mode=mode, attack=attack, budget=budget, n=n, draws=5, accuracy=acc, acc_lo=lo, acc_hi=hi,
                         worst_accuracy=acc - 0.01))
    return pd.DataFrame(rows)


def test_side_by_side_says_per_cell_whether_the_kit_is_within_chance():
    kit = curves({("HopSkipJump", "dynamic-N3", 0.05): 0.94, ("HopSkipJump", "dynamic-N3", 0.08): 0.20,
                  ("Square (L2)", "none", 0.05): 0.0, ("Square (L2)", "none", 0.06): 0.1,  # no Square 0.06 run
                  ("HopSkipJump", "dynamic-N3", 0.5): 0.0})  # a budget the legacy table does not have
    side = side_by_side(kit, load_published())
    assert len(side) == 4
    s = side.set_index(["attack", "defense", "budget"])
    close, far = s.loc[("HopSkipJump", "dynamic-N3", 0.05)], s.loc[("HopSkipJump", "dynamic-N3", 0.08)]
    assert close["published"] == pytest.approx(0.944) and close["in_interval"] and close["within_chance"]
    assert not far["in_interval"] and not far["within_chance"] and far["fisher_p"] < 1e-6
    assert "fmnist-cnn on fmnist, not ResNet-50 on ImageNet val" in close["differs"] and "n = 200, not 1000" in \
        close["differs"] and "not only 20/40/60" in close["differs"]
    assert not s.loc[("Square (L2)", "none", 0.05)]["within_chance"]  # 0 of 200 against 198 of 1000
    text = legacy_sentences(side)
    assert "2 of 4 cells within chance" in text and "published 0.944, kit 0.940" in text
    fig = side_by_side_figure(side)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_the_figure_names_each_curve_once_in_its_legend():
    kit = curves({(a, d, b): 0.5 for a in ("HopSkipJump", "Square (L2)") for b in (0.05, 0.08)
                  for d in ("none", "jpeg-qf40", "dynamic-N3", "dynamic-N3-bank20-40-60")})
    side = side_by_side(kit, load_published()).assign(inconclusive=True)  # every mode marks points inconclusive
    fig = side_by_side_figure(side)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == len(set(labels))
    assert {"kit, inconclusive (too weak on the bare model)", "kit, dynamic-N3", "kit, dynamic-N3-bank20-40-60",
            "published, compress-restore N=3"} <= set(labels)
    plt.close(fig)


def test_nothing_to_compare_yet():
    side = side_by_side(pd.DataFrame(), load_published())
    assert side.empty and "run the legacy grids" in legacy_sentences(side)
    with pytest.raises(MissingRows):
        side_by_side_figure(side)

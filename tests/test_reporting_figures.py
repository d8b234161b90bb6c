"""cnr.reporting.figures: each figure plots the rows of the committed quick run's tables it is drawn from, and says
which rows are missing."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from helpers import paired_rows

from cnr.errors import MissingRows
from cnr.reporting import figures as F
from cnr.reporting.summaries import load_ensemble, load_results
from cnr.reporting.tables import save_output
from cnr.run import resolve_run

QUICK = resolve_run("quick")  # results/quick: the committed run, read only


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return load_results(QUICK, seed=0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _panels(fig) -> dict[str, dict[str, tuple[list, list]]]:
    """Per panel title: each labelled line's (x, y) data."""
    return {ax.get_title(): {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines
                             if not ln.get_label().startswith("_")} for ax in fig.axes}


def test_bpda_figure_plots_each_defenses_worst_case_against_the_budget(results):
    panels = _panels(F.bpda_figure(results))
    assert set(panels) == {f"{a} ({n})" for a in ("bpda-pgd", "eot-bpda-pgd") for n in ("L∞", "normalized L2")}
    lines = panels["bpda-pgd (L∞)"]
    assert list(lines) == ["none", "jpeg", "static-N3", "dynamic-N3"]  # the defenses run at every budget
    for defense, (x, y) in lines.items():
        rows = results[(results["defense"] == defense) & (results["attack"] == "bpda-pgd")
                       & (results["norm"] == "linf") & (results["budget"] > 0)].sort_values("budget")
        assert x == rows["budget"].tolist() and y == rows["worst_accuracy"].tolist(), defense


def test_ensemble_figure_plots_the_robust_accuracy_per_defense():
    ensemble = load_ensemble(QUICK)
    lines = _panels(F.ensemble_figure(ensemble))["every attack, every draw (L∞)"]
    assert set(lines) <= set(ensemble["defense"]) and "dynamic-N3" in lines
    rows = ensemble[(ensemble["defense"] == "dynamic-N3") & (ensemble["norm"] == "linf")].sort_values("budget")
    assert lines["dynamic-N3"] == (rows["budget"].tolist(), rows["robust_accuracy"].tolist())


def test_blackbox_figure_has_a_bar_group_per_defense_and_an_entry_per_attack(results):
    fig = F.blackbox_figure(results)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "jpeg", "static-N3", "dynamic-N3"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    blackbox = results[results["kind"] == "black-box"][["attack", "norm"]].drop_duplicates()
    assert legend[0] == "clean" and len(legend) == 1 + len(blackbox)
    assert all(any(t.startswith(f"{a} (") for t in legend) for a in blackbox["attack"])


def test_ablation_figure_has_a_panel_per_ablation_attack_at_each_reference_budget(results):
    grid = QUICK.profile.grid
    fig = F.ablation_figure(results, grid.ref_linf, grid.ref_l2)
    attacks = results[results["ablation"].astype(bool)]["attack"].unique()
    want = {f"{a}, L∞ {grid.ref_linf:g}" for a in attacks} | {f"{a}, normalized L2 {grid.ref_l2:g}" for a in attacks}
    assert {ax.get_title() for ax in fig.axes} == want


def test_figures_skip_missing_rows_with_a_note(tmp_path, capsys):
    from cnr.reporting import figures as F
    from cnr.reporting import tables as T

    empty = pd.DataFrame(columns=["defense", "attack", "norm", "budget", "worst_accuracy", "kind", "ablation", "mode"])
    builders = [("figure", F.ablation_figure, (0.1, 0.2)), ("table", T.ablation_table, (0.1, 0.2)),
                ("figure", F.bpda_figure, ()), ("table", T.bpda_table, ()), ("figure", F.blackbox_figure, ()),
                ("table", T.blackbox_table, ()), ("figure", F.minimal_perturbation_figure, ()),
                ("table", T.minimal_perturbation_table, ()), ("figure", F.restoration_per_qf_figure, ())]
    for kind, build, extra in builders:
        with pytest.raises(MissingRows):
            build(empty if build is not F.restoration_per_qf_figure else pd.DataFrame(), *extra)
        assert save_output(kind, build.__name__, build, empty, *extra, out_dir=tmp_path) is None
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out.count("skipped") == len(builders)


def test_paired_figure_draws_both_banks():
    from cnr.reporting.figures import MissingRows, paired_figure

    t = pd.concat([paired_rows([("ensemble", -0.1, -0.15, -0.05), ("bpda-pgd", 0.0, -0.1, 0.1)]),
                   paired_rows([("ensemble", -0.2, -0.25, -0.15)], bank="quick")])
    fig = paired_figure(t)
    assert len(fig.axes[0].get_yticklabels()) == 2 and fig.axes[0].get_legend() is not None
    two_pairs = pd.concat([t, t.assign(defense_a="static-N1", defense_b="dynamic-N1")])
    labels = [x.get_text() for x in paired_figure(two_pairs).axes[0].get_yticklabels()]
    assert len(labels) == 4 and labels[0].startswith("dynamic-N1 vs static-N1: ")
    with pytest.raises(MissingRows):
        paired_figure(pd.DataFrame())


@pytest.mark.parametrize("draw", ["bpda_figure", "minimal_perturbation_figure", "blackbox_figure", "ablation_figure"])
def test_figures_draw_a_table_without_the_mode_and_kind_columns(draw):
    import pandas as pd

    from cnr.paths import RESULTS_DIR

    df = pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv").drop(columns=["mode", "kind"])
    fig = getattr(F, draw)(df, *((0.1, 0.3) if draw == "ablation_figure" else ()))
    assert fig.axes
    plt.close(fig)

"""cnr.reporting.figures: each figure is drawn from the rows it needs, and says which are missing."""
from __future__ import annotations

import pandas as pd
import pytest
from helpers import paired_rows

from cnr.reporting.style import MissingRows
from cnr.reporting.tables import save_output


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

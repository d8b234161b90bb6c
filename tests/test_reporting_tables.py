"""cnr.reporting.tables: the tables the figures notebook writes, rebuilt from the committed quick run's results table,
and the wide summary's rows and columns."""
from __future__ import annotations

import pandas as pd
import pytest

from cnr.eval.rows import read_plain_table
from cnr.reporting import tables as T
from cnr.reporting.style import ordered
from cnr.reporting.summaries import load_ensemble, load_results
from cnr.run import resolve_run

QUICK = resolve_run("quick")  # results/quick: the committed run, read only


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return load_results(QUICK, seed=0)


@pytest.mark.parametrize("name", ["ablation", "bpda", "minimal_perturbation", "blackbox"])
def test_each_table_rebuilds_the_committed_one_from_the_committed_results(results, tmp_path, name):
    """What notebooks/04_figures.ipynb writes, from results/quick/tables/robustness.csv: the committed file, byte
    for byte (a change to a table's code must come with the tables it writes)."""
    grid = QUICK.profile.grid
    args = (grid.ref_linf, grid.ref_l2) if name == "ablation" else ()
    T.save_output("table", name, getattr(T, f"{name}_table"), results, *args, out_dir=tmp_path)
    assert (tmp_path / f"{name}.csv").read_text() == (QUICK.tables_dir / f"{name}.csv").read_text()


def test_restoration_summary_rebuilds_the_committed_one(tmp_path):
    T.save_output("table", "restoration_summary", T.restoration_summary, read_plain_table(QUICK.restoration_csv),
                  out_dir=tmp_path)
    committed = QUICK.tables_dir / "restoration_summary.csv"
    assert (tmp_path / "restoration_summary.csv").read_text() == committed.read_text()


def test_summary_has_a_row_per_cell_a_column_per_defense_and_the_ensemble_first(results):
    ensemble = load_ensemble(QUICK)
    plain = T.summary_table(results)
    keys = results[["attack", "norm", "budget"]].drop_duplicates()
    assert len(plain) == len(keys)
    assert list(plain.columns) == ["attack", "norm", "budget", *ordered(results["defense"].unique())]
    row = results[(results["defense"] == "dynamic-N3") & (results["attack"] == "bpda-pgd")
                  & (results["norm"] == "linf") & (results["budget"] == 0.1)].iloc[0]
    cell = plain[(plain["attack"] == "bpda-pgd") & (plain["norm"] == "linf") & (plain["budget"] == 0.1)]
    assert cell["dynamic-N3"].iloc[0].startswith(f"{row['accuracy']:.3f} / {row['worst_accuracy']:.3f}")
    quoted = T.summary_table(results, ensemble=ensemble)
    n_ens = len(ensemble[["norm", "budget"]].drop_duplicates())
    assert len(quoted) == len(plain) + n_ens
    assert (quoted["attack"].iloc[:n_ens] == "ensemble (quote this)").all()  # quoted first
    assert not (quoted["attack"].iloc[n_ens:] == "ensemble (quote this)").any()
    ens = ensemble[(ensemble["defense"] == "dynamic-N3") & (ensemble["norm"] == "linf")
                   & (ensemble["budget"] == 0.1)].iloc[0]
    first = quoted[(quoted["attack"] == "ensemble (quote this)") & (quoted["norm"] == "linf")
                   & (quoted["budget"] == 0.1)]
    assert first["dynamic-N3"].iloc[0] == (f"{ens['robust_accuracy']:.3f} [{ens['robust_lo']:.3f}, "
                                          f"{ens['robust_hi']:.3f}]")


def test_minimal_perturbation_table_has_a_row_per_minimal_attack_and_defense(results):
    table = T.minimal_perturbation_table(results)
    minimal = results[results["kind"] == "minimal"]
    assert len(table) == len(minimal) and set(table["attack"]) == set(minimal["attack"])
    assert list(table.columns) == ["attack", "defense", "n", "accuracy", "worst_accuracy", "median_l2_pert"]


def test_saved_tables_are_whole_files_readable_like_any_other(tmp_path):
    """save_table writes each file atomically (no temporary left behind) with the umask's mode, not mkstemp's 0600."""
    import os

    import pandas as pd

    from cnr.reporting.tables import save_table

    paths = save_table(pd.DataFrame({"defense": ["jpeg"], "value": [0.12345]}), tmp_path / "t", "demo")
    mask = os.umask(0)
    os.umask(mask)
    assert [p.name for p in sorted((tmp_path / "t").iterdir())] == ["demo.csv", "demo.md", "demo.tex"]
    assert paths[0].read_text() == "defense,value\njpeg,0.1235\n"
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in paths)


@pytest.mark.parametrize("build", ["summary_table", "minimal_perturbation_table", "blackbox_table", "bpda_table",
                                   "ablation_table"])
def test_tables_read_a_table_without_the_mode_and_kind_columns(build):
    from cnr.paths import RESULTS_DIR

    df = pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv")
    args = (0.1, 0.3) if build == "ablation_table" else ()
    older = getattr(T, build)(df.drop(columns=["mode", "kind"]), *args)
    assert older.equals(getattr(T, build)(df, *args))


@pytest.mark.parametrize("frame, needle", [
    (pd.DataFrame(), "lacks the column(s) defense, attack, norm, budget, accuracy (it is empty)"),
    (pd.DataFrame({"defense": ["none"], "attack": ["clean"]}), "lacks the column(s) norm, budget, accuracy"),
    ("results.csv", "pandas DataFrame, got str"),
])
def test_a_frame_that_is_no_results_table_is_refused_in_one_line(frame, needle):
    from cnr.analysis.ensemble import ensemble
    from cnr.analysis.sanity import sanity_report
    from cnr.errors import InputError
    from cnr.reporting import figures as F

    calls = [T.summary_table, T.blackbox_table, lambda f: F.accuracy_vs_budget(f, ["bpda-pgd"]), sanity_report]
    if len(getattr(frame, "columns", ())):  # a frame of no columns at all is "no rows yet" to the grid's ensemble
        calls.append(lambda f: ensemble(f, "unused.csv"))
    for call in calls:
        with pytest.raises(InputError) as e:
            call(frame)
        assert needle in str(e.value)


def test_empty_selections_and_odd_arguments_are_the_kits_errors(results, tmp_path):
    from cnr.errors import InputError
    from cnr.reporting import figures as F
    from cnr.table_files import save_table

    no_rows = results.iloc[:0]
    for call in (T.blackbox_table, F.ensemble_figure, F.paired_figure, lambda f: F.accuracy_vs_budget(f, ["x"])):
        with pytest.raises(InputError):  # MissingRows is one of them
            call(no_rows)
    with pytest.raises(InputError, match="ref_linf"):
        T.ablation_table(results, float("nan"), 0.2)
    with pytest.raises(InputError, match="plain file name"):
        save_table(results.head(1), tmp_path, "../escape")


def test_an_older_table_without_mode_and_kind_gets_its_ensemble(results):
    from cnr.analysis.ensemble import ensemble

    older = results.drop(columns=["mode", "kind"])
    assert ensemble(older, QUICK.robustness_csv).equals(ensemble(results, QUICK.robustness_csv))


def test_a_frame_with_values_no_table_holds_is_refused(results):
    from cnr.analysis.ensemble import mark_inconclusive
    from cnr.errors import InputError

    with pytest.raises(InputError, match="row 1 .*accuracy"):
        mark_inconclusive(results.assign(accuracy=float("nan")))

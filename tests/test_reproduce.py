"""cnr.reproduce: the parameters a notebook receives rebuild its run, and a failing notebook is named with its
cell."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from cnr.errors import InputError
from cnr.reproduce import NotebookFailed, run_notebook
from cnr.run import resolve_run


def test_notebook_parameters_rebuild_the_same_run(tmp_path):
    """Papermill passes overrides as JSON, so tuples arrive as lists: the notebook must resolve the same run."""
    from cnr.reproduce import notebook_parameters

    over = {"grid.l2_budgets": (0.05,), "bank.pretrain_steps_by_qf": ((60, 30),), "attacks.cw.steps": 3}
    run = resolve_run("smoke", over, results_root=tmp_path)
    params = json.loads(json.dumps(notebook_parameters(run)))
    assert params["overrides"]["grid.l2_budgets"] == [0.05]
    inside = resolve_run(params["profile"], params["overrides"], seed=params["seed"], results_root=tmp_path)
    assert inside.profile == run.profile and inside.name == run.name and inside.out_dir == run.out_dir


def test_failing_notebook_names_notebook_and_cell(tmp_path):
    """Also: the `cnr` kernel is this interpreter (the venv's), with cnr importable and passive OpenMP waiting."""
    import sys

    show_kernel = "import os, sys, cnr\nprint(sys.executable, os.environ['OMP_WAIT_POLICY'])"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(show_kernel),
                                         nbformat.v4.new_code_cell("# a comment\nraise ValueError('boom')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_boom.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(NotebookFailed) as info:
        run_notebook(path, tmp_path / "out", {})
    msg = str(info.value)
    for part in ("99_boom.ipynb", "cell 1", "ValueError", "boom", "raise ValueError('boom')", str(tmp_path / "out")):
        assert part in msg, (part, msg)
    executed = nbformat.read(str(tmp_path / "out" / "99_boom.ipynb"), as_version=4)
    first = next(c for c in executed.cells if c.cell_type == "code")  # papermill puts an error banner on top
    from cnr.paths import REPO_ROOT

    # the kernel is this venv's interpreter, and the executed copy names no absolute path of the checkout
    text = first.outputs[0].text.strip()
    assert text.endswith("python PASSIVE") and str(REPO_ROOT) not in text
    assert sys.executable.replace(str(REPO_ROOT) + "/", "") in text


def test_an_install_without_notebooks_says_what_to_clone_and_makes_nothing(tmp_path, monkeypatch, capsys):
    """A pip-installed kit has no notebooks/: reproduce fails naming what to clone, before making any folder."""
    import cnr.reproduce as reproduce_module
    from cnr import cli

    monkeypatch.setattr(reproduce_module, "NOTEBOOK_DIR", tmp_path / "site-packages" / "notebooks")
    monkeypatch.setenv("CNR_RESULTS", str(tmp_path / "results"))
    assert cli.main(["reproduce", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "no notebooks in" in err and "Clone the kit's source repository" in err and "make reproduce" in err
    assert "total" not in err and not (tmp_path / "results").exists()


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("start, needle", [("", "--from takes a notebook's prefix"), ("99", "matches no notebook")])
def test_from_names_a_notebook_or_the_command_stops_before_any(capsys, start, needle):
    from helpers import run_cli

    code, text = run_cli(capsys, "reproduce", "--profile", "smoke", "--from", start)
    assert code == 2 and needle in text and "Traceback" not in text, text


def _row(defense: str, accuracy: float) -> dict:
    """A finished grid row as a shard writes it (every field of the schema, values that pass its checks)."""
    from cnr.eval.rows import ROW_SCHEMA

    row = {k: t() for k, t in ROW_SCHEMA.items()}
    return {**row, "dataset": "fmnist", "classifier": "fmnist-cnn", "defense": defense, "attack": "clean",
            "norm": "linf", "params": "{}", "view": "bpda", "n": 8, "draws": 1, "accuracy": accuracy,
            "acc_hi": 1.0, "worst_accuracy": accuracy, "worst_hi": 1.0}


def test_a_fresh_reproduction_computes_every_row_again_and_an_interrupted_one_resumes(tmp_path, monkeypatch):
    """--fresh moves the table found before the run aside, with the shards' unmerged rows in it (so the grid cannot
    count any as done, and none is lost); it is the reference of the final comparison. An interrupted run keeps its
    own rows and that reference; a run without --fresh resumes from the table and keeps a copy as the reference."""
    import pandas as pd

    import cnr.reproduce as rep
    from cnr.eval.merge import load_table, merged_rows, write_merged
    from cnr.eval.rows import SIDECAR_SUFFIX, append_row, rows_path

    run = resolve_run("smoke", results_root=tmp_path)
    table, before = run.robustness_csv, run.robustness_csv.with_name("robustness.before.csv")
    seen: list[int] = []

    def notebook(defense: str, fail: bool = False):
        def fake(path, out_dir, params, log_output=False):
            seen.append(len(load_table(table)))  # the rows the grid would find done
            if fail:
                raise NotebookFailed("interrupted")
            append_row(rows_path(table), _row(defense, 0.5))
            write_merged(*merged_rows(table), table)  # as the grid ends: the table written, the shard's file kept
        return fake

    monkeypatch.setattr(rep, "notebooks", lambda start=None, only=(): [rep.NOTEBOOK_DIR / "03_attacks.ipynb"])
    monkeypatch.setattr(rep, "run_notebook", notebook("none"))
    rep.reproduce(run, compare=False, fresh=True)  # nothing there yet: no reference, one shard row left
    assert seen == [0] and not before.exists() and not rep._in_progress(run).exists()
    monkeypatch.setattr(rep, "run_notebook", notebook("jpeg"))
    rep.reproduce(run, compare=True, fresh=True)
    assert seen[-1] == 0 and list(pd.read_csv(before)["defense"]) == ["none"]
    assert Path(str(before) + SIDECAR_SUFFIX).is_file()
    monkeypatch.setattr(rep, "run_notebook", notebook("jpeg", fail=True))
    with pytest.raises(NotebookFailed):
        rep.reproduce(run, compare=False, fresh=True)  # the "jpeg" table is set aside, then the run stops
    assert list(pd.read_csv(before)["defense"]) == ["jpeg"] and rep._in_progress(run).is_file()
    assert not table.exists() and not list(table.parent.glob("*.rows-*.jsonl"))  # merged into the reference
    append_row(rows_path(table), _row("static-N3", 0.25))  # a row the interrupted run finished
    write_merged(*merged_rows(table), table)
    with pytest.raises(InputError, match="fresh"):
        rep.reproduce(run, start="03", fresh=True)
    monkeypatch.setattr(rep, "run_notebook", notebook("dynamic-N3"))
    rep.reproduce(run, compare=False, start="03")  # not fresh: works on what is there, the mark stays
    assert seen[-1] == 1 and rep._in_progress(run).is_file() and list(pd.read_csv(before)["defense"]) == ["jpeg"]
    rep.reproduce(run, compare=False, fresh=True)  # resumes: its rows stay, and so does its reference
    assert seen[-1] == 2 and not rep._in_progress(run).exists() and list(pd.read_csv(before)["defense"]) == ["jpeg"]
    monkeypatch.setattr(rep, "run_notebook", notebook("none"))
    rep.reproduce(run, compare=False)  # not fresh: the table resumes and a copy of it becomes the reference
    assert seen[-1] == 2 and sorted(pd.read_csv(before)["defense"]) == ["dynamic-N3", "static-N3"]
    assert len(pd.read_csv(table)) == 3

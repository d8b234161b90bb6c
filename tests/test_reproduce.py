"""cnr.reproduce: the parameters a notebook receives rebuild its run, and a failing notebook is named with its
cell."""
from __future__ import annotations

import json

import nbformat
import pytest

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


def test_a_reproduction_computes_every_row_again_and_an_interrupted_one_resumes(tmp_path, monkeypatch):
    """The table found before a run is moved aside (so the grid cannot count its rows as done) and is the reference
    of the final comparison; an interrupted run keeps its own rows and that reference; from a later notebook on the
    table that is there is used."""
    import cnr.reproduce as rep

    run = resolve_run("smoke", results_root=tmp_path)
    table, before = run.robustness_csv, run.robustness_csv.with_name("robustness.before.csv")
    seen: list[bool] = []

    def notebook(fail: bool = False):
        def fake(path, out_dir, params, log_output=False):
            seen.append(table.is_file())  # what the grid would find as done
            if fail:
                raise NotebookFailed("interrupted")
            table.parent.mkdir(parents=True, exist_ok=True)
            table.write_text(f"rows of run {len(seen)}\n")
        return fake

    monkeypatch.setattr(rep, "notebooks", lambda start=None, only=(): [rep.NOTEBOOK_DIR / "03_attacks.ipynb"])
    monkeypatch.setattr(rep, "run_notebook", notebook())
    rep.reproduce(run, compare=False)  # nothing there yet: no reference
    assert seen == [False] and not before.exists() and not rep._in_progress(run).exists()
    rep.reproduce(run, compare=False)
    assert seen[-1] is False and before.read_text() == "rows of run 1\n" and table.read_text() == "rows of run 2\n"
    monkeypatch.setattr(rep, "run_notebook", notebook(fail=True))
    with pytest.raises(NotebookFailed):
        rep.reproduce(run, compare=False)
    assert before.read_text() == "rows of run 2\n" and rep._in_progress(run).is_file()
    table.write_text("a partial table\n")
    monkeypatch.setattr(rep, "run_notebook", notebook())
    rep.reproduce(run, compare=False)  # resumes: the partial table stays, the reference too
    assert seen[-1] is True and before.read_text() == "rows of run 2\n" and not rep._in_progress(run).exists()
    rep.reproduce(run, start="03", compare=False)  # a later notebook on: the table stays where it is
    assert seen[-1] is True and before.read_text() == "rows of run 2\n"

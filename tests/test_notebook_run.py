"""Where a notebook writes: Papermill's `results_root`, else a person's own folder under results/interactive/,
started from a copy of the committed run and never touching it."""
from __future__ import annotations

import pytest

from cnr import notebook_run as nr
from cnr.records import read_record, record
from cnr.run import resolve_run


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """A committed results/ with one quick run in it, and the interactive folder beside it, both under tmp_path."""
    committed, interactive = tmp_path / "results", tmp_path / "results" / "interactive"
    monkeypatch.setattr(nr, "RESULTS_DIR", committed)
    monkeypatch.setattr(nr, "INTERACTIVE_DIR", interactive)
    quick = resolve_run("quick", results_root=committed)
    record(quick, "00_tour", adaptive=0.08)
    (quick.notebooks_dir / "00_tour.ipynb").write_text("{}")  # an executed copy: not needed by a session
    (quick.tables_dir).mkdir(parents=True)
    (quick.tables_dir / "robustness.csv").write_text("defense\nnone\n")
    return committed, interactive


def test_papermill_runs_write_where_they_are_told(roots, tmp_path):
    committed, interactive = roots
    run = nr.notebook_run("quick", results_root=tmp_path / "elsewhere")
    assert run.out_dir == tmp_path / "elsewhere" / "quick" and not interactive.exists()
    assert not nr.is_session(tmp_path) and nr.is_session(None)


def test_a_session_gets_a_copy_of_the_committed_run_and_writes_only_there(roots, capsys):
    committed, interactive = roots
    run = nr.notebook_run("quick", seed=0)
    assert run.out_dir == interactive / "quick"
    assert "interactive session" in capsys.readouterr().out
    assert (run.tables_dir / "robustness.csv").read_text() == "defense\nnone\n"  # 03 resumes, 04 draws from it
    assert read_record(run, "00_tour")["adaptive"] == 0.08 and not (run.notebooks_dir / "00_tour.ipynb").exists()
    record(run, "00_tour", adaptive=0.5)
    assert read_record(nr.committed_run(run), "00_tour")["adaptive"] == 0.08  # the committed record is untouched
    assert not nr.start_from_committed(run)  # a session's folder, once there, is never overwritten
    assert read_record(run, "00_tour")["adaptive"] == 0.5


def test_a_run_without_committed_results_starts_empty_and_other_roots_are_never_filled(roots, tmp_path):
    committed, interactive = roots
    smoke = nr.notebook_run("smoke")
    assert smoke.out_dir == interactive / "smoke" and not smoke.out_dir.exists()
    assert not nr.start_from_committed(resolve_run("quick", results_root=tmp_path / "other"))
    assert not (tmp_path / "other").exists()

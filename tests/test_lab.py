"""`make lab` works on copies of the notebooks in an ignored folder: made once, kept afterwards, JupyterLab started
on them."""
from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat

from cnr import lab
from cnr.paths import NOTEBOOK_DIR


def test_copies_are_made_once_and_a_persons_work_is_kept(tmp_path):
    src, dest = tmp_path / "notebooks", tmp_path / "lab"
    src.mkdir()
    for name in ("00_tour.ipynb", "01_classifier.ipynb"):
        shutil.copy(NOTEBOOK_DIR / name, src / name)
    (src / "scratch.ipynb").write_text("{}")  # not one of the kit's numbered notebooks
    assert lab.lab_copies(src, dest) == {"00_tour.ipynb": "copied", "01_classifier.ipynb": "copied"}
    assert (dest / "00_tour.ipynb").read_bytes() == (src / "00_tour.ipynb").read_bytes()
    nb = nbformat.read(str(dest / "00_tour.ipynb"), as_version=4)
    nb.cells[1].source += "\nclass_mode = False"
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="a session's output")]
    nbformat.write(nb, str(dest / "00_tour.ipynb"))
    edited = (dest / "00_tour.ipynb").read_bytes()
    assert lab.lab_copies(src, dest) == {"00_tour.ipynb": "kept, differs", "01_classifier.ipynb": "kept"}
    assert (dest / "00_tour.ipynb").read_bytes() == edited


def test_main_starts_jupyterlab_on_the_copies(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(lab, "LAB_DIR", tmp_path / "lab")
    monkeypatch.setattr(lab, "lab_copies", lambda: {"00_tour.ipynb": "kept, differs"})
    monkeypatch.setattr(subprocess, "call", lambda argv: calls.append(argv) or 0)
    assert lab.main(["--no-browser"]) == 0
    assert calls == [[sys.executable, "-m", "jupyterlab", f"--notebook-dir={tmp_path / 'lab'}", "--no-browser"]]
    assert "kept your copies of 00_tour.ipynb" in capsys.readouterr().out

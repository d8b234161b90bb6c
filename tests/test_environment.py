"""cnr.environment: every variable the kit reads is parsed like an argument, and a bad one stops any command in one
line that names the variable and the path, before any work (here through `cnr compare`, which needs no models)."""
from __future__ import annotations

import os

import pytest
from helpers import run_cli

from cnr.environment import check_environment, imagenet_labels_file, jpeg_threads
from cnr.errors import InputError

pytestmark = pytest.mark.usefixtures("scratch_results")


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")  # a read would block for ever
    return str(tmp_path / "pipe")


@pytest.mark.parametrize("var, value, needle", [
    ("CNR_IMAGENET_LABELS", "/nonexistent/labels.txt", "CNR_IMAGENET_LABELS=/nonexistent/labels.txt: no such file"),
    ("CNR_IMAGENET_LABELS", "{tmp}", "is a folder, not a file"),
    ("CNR_IMAGENET_LABELS", "", "CNR_IMAGENET_LABELS is set but empty"),
    ("CNR_IMAGENET_LABELS", "/dev/null", "a device, pipe or socket"),
    ("CNR_IMAGENET_LABELS", "{fifo}", "a device, pipe or socket"),
    ("CNR_IMAGENET_LABELS", "/proc/self/mem", "cannot be read"),
    ("CNR_JPEG_THREADS", "two", "CNR_JPEG_THREADS: expected an integer in [1, 1024]"),
    ("CNR_JPEG_THREADS", "100000", "CNR_JPEG_THREADS: expected an integer in [1, 1024]"),
    ("CNR_DATA", "/dev/null", "CNR_DATA=/dev/null is a file"),
    ("CNR_IMAGENET", " ", "CNR_IMAGENET is set but empty"),
    ("CNR_CACHE", "/dev/null", "CNR_CACHE=/dev/null is a file"),
])
def test_a_bad_variable_stops_any_command_in_one_line(capsys, tmp_path, monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value.format(tmp=tmp_path, fifo=_fifo(tmp_path) if "fifo" in value else ""))
    table = tmp_path / "t.csv"
    table.write_text("a\n1\n")
    code, text = run_cli(capsys, "compare", str(table), str(table))
    assert code == 2 and needle in text and "Traceback" not in text and len(text.strip().splitlines()) == 1, text


def test_good_values_are_read(tmp_path, monkeypatch):
    labels = tmp_path / "labels.txt"
    labels.write_text("a.png 3\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CNR_IMAGENET_LABELS", "~/labels.txt")  # quoted: the shell left the ~ to us
    monkeypatch.setenv("CNR_JPEG_THREADS", " 3 ")
    check_environment()
    assert imagenet_labels_file() == labels and jpeg_threads() == 3
    monkeypatch.delenv("CNR_IMAGENET_LABELS")
    monkeypatch.delenv("CNR_JPEG_THREADS")
    assert imagenet_labels_file() is None and jpeg_threads() is None


def test_a_labels_file_of_the_wrong_format_names_the_variable(tmp_path, monkeypatch):
    from PIL import Image

    from cnr.data import load_dataset

    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("a.png,3\n")
    monkeypatch.setenv("CNR_IMAGENET", str(tmp_path))
    monkeypatch.setenv("CNR_IMAGENET_LABELS", str(tmp_path / "labels.csv"))
    with pytest.raises(InputError, match="expected 'filename label_index'.*set by CNR_IMAGENET_LABELS"):
        load_dataset("imagenet-val", limit=1)

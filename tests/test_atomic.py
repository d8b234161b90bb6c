"""cnr.atomic: whole files with a plain open()'s mode, flushed to disk, and nothing half-written or left behind."""
from __future__ import annotations

import os

import pandas as pd
import pytest
import torch

from cnr import atomic
from cnr.weights import save_weights


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_written_files_get_the_mode_a_plain_open_gives(tmp_path, umask):
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    paths = [atomic.write_text(tmp_path / "a.txt", "x"), atomic.write_bytes(tmp_path / "b.bin", b"\x00")]
    with atomic.atomic_path(tmp_path / "c.csv") as tmp:
        pd.DataFrame({"v": [1]}).to_csv(tmp, index=False)
    paths.append(tmp_path / "c.csv")
    paths.append(save_weights(tmp_path / "w.safetensors", {"t": torch.zeros(2)}, {}))  # safetensors writes the path
    assert _mode(tmp_path / "plain.txt") == 0o666 & ~umask
    assert [_mode(p) for p in paths] == [_mode(tmp_path / "plain.txt")] * len(paths)


def test_content_is_replaced_whole_and_flushed(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = tmp_path / "sub" / "t.json"  # the folder is created
    atomic.write_text(path, "old")
    atomic.write_text(path, "new ü")
    assert path.read_bytes() == "new ü".encode() and len(synced) == 2
    assert [p.name for p in path.parent.iterdir()] == ["t.json"]


def test_a_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "table.csv"
    atomic.write_text(path, "old\n")
    with pytest.raises(RuntimeError, match="disk gone"):
        with atomic.atomic_path(path) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == atomic.TEMP_SUFFIX
            tmp.write_text("half a ro")
            raise RuntimeError("disk gone")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_failed_flush_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "outcomes.npz"
    atomic.write_bytes(path, b"old")

    def refuse(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", refuse)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["outcomes.npz"]


def test_file_system_failures_are_the_kits_error_naming_the_path(tmp_path, monkeypatch):
    """A folder in the way, a file where a folder goes, a write refused mid-way: PathError (an OSError too)."""
    from cnr.errors import PathError

    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(PathError, match=r"dir\.csv.*folder is in the way"):
        atomic.write_text(tmp_path / "dir.csv", "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PathError, match=r"file/sub/t\.csv.*a file is in the way"):
        atomic.write_text(tmp_path / "file" / "sub" / "t.csv", "x")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "_fsync", full)
    with pytest.raises(PathError, match=r"t\.csv.*disk is full"):
        atomic.write_text(tmp_path / "t.csv", "x")
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary is gone

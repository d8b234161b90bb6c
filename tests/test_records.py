"""cnr.records: the numbers a notebook records, read back by name."""
from __future__ import annotations

import pytest

from cnr.records import read_record, record
from cnr.run import resolve_run


def test_record_round_trip(tmp_path):
    import numpy as np
    import torch

    run = resolve_run("smoke", results_root=tmp_path)
    path = record(run, "99_x.ipynb", a=np.float32(0.5), b=torch.tensor(3), c=float("nan"), d=[np.int64(1)],
                  e={"k": (1, 2)})
    assert path == tmp_path / "smoke" / "notebooks" / "99_x.json"
    assert read_record(run, "99_x") == {"profile": "smoke", "run": "smoke", "notebook": "99_x", "a": 0.5, "b": 3,
                                        "c": None, "d": [1], "e": {"k": [1, 2]}}


def test_missing_record_says_which_notebook_to_run(tmp_path):
    with pytest.raises(Exception, match="03_attacks.ipynb"):
        read_record(resolve_run("smoke", results_root=tmp_path), "03_attacks")


@pytest.mark.parametrize("content, needle", [("{bad", "damaged"), ("[1]", "list"), (b"\xff\xfe", "damaged")])
def test_damaged_record_is_the_kits_error(tmp_path, content, needle):
    from cnr.errors import InputError

    run = resolve_run("smoke", results_root=tmp_path)
    path = record(run, "99_x", a=1)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputError, match=rf"{path.name}.*{needle}.*99_x.ipynb"):
        read_record(run, "99_x")


def test_record_file_system_failures_name_the_path(tmp_path, monkeypatch):
    """A folder where the record goes, an unreadable record, an unwritable folder: PathError naming the file."""
    from pathlib import Path

    from cnr import atomic
    from cnr.errors import InputError, PathError

    run = resolve_run("smoke", results_root=tmp_path)
    path = run.record_path("99_x")
    path.mkdir(parents=True)
    with pytest.raises(PathError, match=rf"{path.name}.*folder"):
        record(run, "99_x", a=1)
    with pytest.raises(InputError, match=rf"{path.name}.*folder"):
        read_record(run, "99_x")
    path.rmdir()
    record(run, "99_x", a=1)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(PathError, match=rf"read the record .*{path.name}.*Permission denied"):
        read_record(run, "99_x")
    monkeypatch.setattr(atomic, "_create_temp", denied)
    with pytest.raises(PathError, match=rf"write .*{path.name}.*permissions"):
        record(run, "99_x", a=2)

"""cnr.records: the numbers a notebook records, read back by name."""
from __future__ import annotations

import pytest

from cnr.records import read_record, record
from cnr.run import resolve_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The smoke run, writing into a fresh temporary results folder (never the repository's results/)."""
    return resolve_run("smoke", results_root=tmp_path_factory.mktemp("results"))


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

"""cnr.config.training: train_argan's settings, defaults and ranges as plain data, importable without torch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnr.config.training import TRAIN_LIMITS, TrainSettings
from cnr.errors import InputError
from cnr.parsing import Limit

REPO = Path(__file__).resolve().parent.parent


def test_settings_module_imports_without_torch():
    code = ("import sys, cnr.config.training as s; assert s.TRAIN_LIMITS['pretrain_steps'].lo == 0; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]


def test_limits_are_declared_for_fields_of_the_settings():
    fields = set(TrainSettings.__dataclass_fields__)
    assert set(TRAIN_LIMITS) <= fields and all(isinstance(v, Limit) for v in TRAIN_LIMITS.values())
    # a skipped phase is allowed on either side; not both
    assert TrainSettings(pretrain_steps=0, gan_steps=1).steps == 1
    assert TrainSettings(pretrain_steps=1, gan_steps=0).steps == 1
    with pytest.raises(InputError, match="needs at least one step"):
        TrainSettings(pretrain_steps=0, gan_steps=0)


@pytest.mark.parametrize("kwargs", [dict(pretrain_steps=-1), dict(patch=3), dict(in_channels=0), dict(lr=0.0),
                                    dict(seed=-1)])
def test_out_of_range_settings_are_refused_by_name(kwargs):
    [(name, value)] = kwargs.items()
    with pytest.raises(InputError, match=rf"\b{name}\b.*{value}"):  # the setting and the value given
        TrainSettings(**kwargs)


def test_unknown_setting_names_the_valid_ones():
    with pytest.raises(InputError, match=r"'patch_size'.*patch, perceptual"):
        TrainSettings.from_kwargs({"patch_size": 32})


def test_settings_hold_plain_numbers_and_are_frozen():
    s = TrainSettings(batch=np.int64(4), patch=np.int64(16), progress="no")
    assert (s.batch, s.patch, s.progress) == (4, 16, False)
    assert type(s.batch) is int and type(s.patch) is int  # JSON metadata cannot hold numpy integers
    with pytest.raises(AttributeError):
        s.batch = 8

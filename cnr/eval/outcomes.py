"""Per-image outcomes of every grid cell, stored beside the rows so that per-image worst cases can be computed.

For each cell: `correct` (draws, n) — right under each scoring draw; `success` (n,) — the attack's own final view;
`pert` (n,) — the final perturbation in budget units (Linf, or normalized L2). One small .npz per row under
`tables/outcomes/`, named by a hash of the row's key: written atomically, so it resumes and merges across shards
like the rows (a row whose file is missing is simply recomputed by the next grid run).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnr import atomic
from cnr.errors import CnrError, DataNotFoundError, InputError
from cnr.eval.rows import KEY_COLUMNS

FOLDER = "outcomes"
NAME = re.compile(r"[0-9a-f]{20}\.npz")


@dataclass(frozen=True)
class Outcomes:
    """What happened to each image of one cell."""

    correct: np.ndarray  # bool (draws, n)
    success: np.ndarray  # bool (n,)
    pert: np.ndarray  # float32 (n,)

    def __post_init__(self) -> None:
        d, n = self.correct.shape
        if self.success.shape != (n,) or self.pert.shape != (n,):
            raise InputError(f"outcomes disagree on n: correct {self.correct.shape}, success {self.success.shape}, "
                             f"pert {self.pert.shape}")


def outcome_name(row: Mapping[str, Any]) -> str:
    """The file name of a row's outcomes: a hash of its key, so every shard and every rerun agrees on it."""
    key = json.dumps([str(row[k]) for k in KEY_COLUMNS])
    return hashlib.sha256(key.encode()).hexdigest()[:20] + ".npz"


def stored_name(row: Mapping[str, Any]) -> str:
    """The file a row names in its `outcomes` column (what the grid wrote), else the hash of its key: a row read back
    from robustness.csv has its budget rounded to 4 decimals, so its key no longer hashes to the same name."""
    name = row.get("outcomes")
    if not isinstance(name, str) or not name:
        return outcome_name(row)
    if not NAME.fullmatch(name):
        raise InputError(f"row {row.get('defense')} / {row.get('attack')} names outcomes {name!r}, which is not a "
                         "file the grid writes (20 hex digits + .npz)")
    return name


def outcomes_dir(out_csv: str | os.PathLike) -> Path:
    return Path(out_csv).parent / FOLDER


def save_outcomes(out_csv: str | os.PathLike, row: Mapping[str, Any], correct: torch.Tensor, success: torch.Tensor,
                  pert: torch.Tensor) -> str:
    """Write one cell's outcomes (bits packed) atomically; returns the file name the row records."""
    o = Outcomes(correct.cpu().numpy().astype(bool), success.cpu().numpy().astype(bool),
                 pert.detach().float().cpu().numpy().astype(np.float32))
    buf = io.BytesIO()
    np.savez_compressed(buf, correct=np.packbits(o.correct, axis=1), shape=np.array(o.correct.shape),
                        success=np.packbits(o.success), pert=o.pert.astype(np.float16))
    name = outcome_name(row)
    path = outcomes_dir(out_csv) / name
    try:
        atomic.write_bytes(path, buf.getvalue())
    except OSError as e:
        raise CnrError(f"cannot write the outcomes file {path} ({e.strerror or e}); fix the folder's permissions "
                       f"and rerun the grid (finished rows are kept)") from None
    return name


def load_outcomes(out_csv: str | os.PathLike, row: Mapping[str, Any]) -> Outcomes:
    """A row's outcomes, or DataNotFoundError naming the row (rerun the grid: missing cells are recomputed)."""
    path = outcomes_dir(out_csv) / stored_name(row)
    if not path.is_file():
        raise DataNotFoundError(f"no per-image outcomes for {row['defense']} / {row['attack']} {row['norm']} "
                                f"{row['budget']} ({path}); rerun the grid to compute them")
    with np.load(path) as z:
        d, n = (int(v) for v in z["shape"])
        correct = np.unpackbits(z["correct"], axis=1, count=n).astype(bool).reshape(d, n)
        success = np.unpackbits(z["success"], count=n).astype(bool)
        return Outcomes(correct, success, z["pert"].astype(np.float32))


class OutcomesWarning(UserWarning):
    """An outcomes file that cannot be read: its row is recomputed."""


def has_outcomes(out_csv: str | os.PathLike, row: Mapping[str, Any]) -> bool:
    """Whether a row's outcomes are there and readable; a damaged file is warned about so its row is recomputed."""
    path = outcomes_dir(out_csv) / outcome_name(row)
    if not path.is_file():
        return False
    try:
        load_outcomes(out_csv, {**row, "outcomes": path.name})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, InputError) as e:
        warnings.warn(f"{path} is damaged ({type(e).__name__}: {str(e)[:80]}); its row {row['defense']} / "
                      f"{row['attack']} {row['norm']} {row['budget']} is recomputed", OutcomesWarning, stacklevel=2)
        return False
    return True

"""The one place that knows the repository layout: shipped inputs (weights, data) apart from outputs (results)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Shipped weights are inputs the kit reads and never writes by default; retraining writes under results/<run>/models.
WEIGHTS_DIR = REPO_ROOT / "weights"
DATA_DIR = Path(os.environ.get("CNR_DATA", REPO_ROOT / "data"))
RESULTS_DIR = REPO_ROOT / "results"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def cache_dir() -> Path:
    """Where converted third-party weights and downscaled photos are cached ($CNR_CACHE, else ~/.cache/cnr)."""
    return Path(os.environ.get("CNR_CACHE", Path.home() / ".cache" / "cnr"))


def relative(path: str | os.PathLike) -> str:
    """A path as printed and recorded: relative to the repository when inside it, absolute otherwise."""
    p = Path(path).resolve()
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)

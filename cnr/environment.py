"""The environment variables the kit reads, each parsed like an argument: where it is read, and all at once at the
command line's edge (`check_environment`), so that a bad one fails in one line before any work starts."""
from __future__ import annotations

import os
from pathlib import Path

from cnr.parsing import check_int
from cnr.paths import cache_dir, data_dir, env_file, env_folder

JPEG_THREADS_MAX = 1024  # one codec thread each: more is a typo, not a machine
LABELS_VAR = "CNR_IMAGENET_LABELS"


def env_int(var: str, default: int, lo: int, hi: int | None = None) -> int:
    """An integer from an environment variable (unset: `default`); blank or malformed text refused, naming it."""
    text = os.environ.get(var)
    return default if text is None else check_int(text, f"environment variable {var}", lo, hi, text=True)


def jpeg_threads() -> int | None:
    """$CNR_JPEG_THREADS: the codec's thread count (None: unset, one per core this process may use)."""
    return None if os.environ.get("CNR_JPEG_THREADS") is None else env_int("CNR_JPEG_THREADS", 1, 1, JPEG_THREADS_MAX)


def imagenet_labels_file() -> Path | None:
    """$CNR_IMAGENET_LABELS: the labels file of a flat ImageNet-val folder (None: unset, labels.txt in the folder)."""
    return env_file(LABELS_VAR, "a labels file of lines 'filename label_index'")


def check_environment() -> None:
    """Parse every variable the kit reads ($CNR_RESULTS, $CNR_CACHE, $CNR_DATA, $CNR_IMAGENET, $CNR_IMAGENET_LABELS,
    $CNR_JPEG_THREADS); WORLD_SIZE and LOCAL_RANK are torchrun's and are checked where training and CUDA read them."""
    for var in ("CNR_RESULTS", "CNR_IMAGENET"):
        env_folder(var)
    cache_dir()
    data_dir()
    imagenet_labels_file()
    jpeg_threads()

"""What save_weights writes besides the tensors, checked before anything is written: the metadata as plain JSON,
so that a reader gets back exactly what was saved (no repr of an object, no NaN that strict JSON readers refuse)."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import torch

from cnr.errors import InputError


def _plain(o: Any) -> Any:
    """Paths as text and numpy / 0-dim torch numbers as numbers; anything else is not metadata."""
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if hasattr(o, "item") and getattr(o, "ndim", None) == 0:
        return o.item()
    raise TypeError(f"{type(o).__name__} {o!r:.60} is not JSON")


def weights_payload(path: os.PathLike, tensors: Any, metadata: Any) -> str:
    """Check a weights file's contents (str names -> tensors) and return its metadata as strict JSON text."""
    if not isinstance(tensors, Mapping) or not isinstance(metadata, Mapping):
        raise InputError(f"save_weights takes mappings of name -> tensor and of metadata, got "
                         f"{type(tensors).__name__} and {type(metadata).__name__}")
    bad = next(((k, v) for k, v in tensors.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise InputError(f"save_weights: entry {bad[0]!r} must be a str name -> torch.Tensor, got "
                         f"{type(bad[1]).__name__}")
    try:
        return json.dumps(dict(metadata), sort_keys=True, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as e:
        raise InputError(f"metadata for {path} must be plain JSON (str, numbers, lists, dicts; no NaN): {e}") from None

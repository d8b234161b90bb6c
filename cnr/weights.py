"""Safetensors weights with metadata: atomic writes, loads that never unpickle, errors that say what to do."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cnr import __version__
from cnr.errors import WeightsError

_META_KEY = "cnr"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any],
    dtype: torch.dtype | None = None,
) -> Path:
    """Save tensors and JSON metadata atomically; `dtype` (e.g. fp16) shrinks floating tensors for git."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, v in tensors.items():
        v = v.detach().cpu().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    meta = {"code_version": __version__, **metadata}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(out, tmp, metadata={_META_KEY: json.dumps(meta, sort_keys=True, default=str)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: str | os.PathLike, regenerate: str = "") -> dict[str, Any]:
    """Read only the metadata of a weights file (cheap: the header)."""
    from safetensors import safe_open

    path = _existing(path, regenerate)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(_META_KEY)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a valid safetensors file ({e}).{_hint(regenerate)}") from e
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise WeightsError(f"{path} has corrupted cnr metadata ({e}).{_hint(regenerate)}") from e


def load_weights(
    path: str | os.PathLike,
    expect: Mapping[str, Any] | None = None,
    regenerate: str = "",
    dtype: torch.dtype | None = torch.float32,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load tensors and metadata, checking metadata fields against `expect` (architecture, QF, dataset...)."""
    path = _existing(path, regenerate)
    meta = read_metadata(path, regenerate)
    for key, want in (expect or {}).items():
        got = meta.get(key)
        if got != want:
            raise WeightsError(
                f"{path} was made for {key}={got!r}, but {key}={want!r} is needed.{_hint(regenerate)}"
            )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is corrupted or not a safetensors file ({e}).{_hint(regenerate)}") from e
    if dtype is not None:
        tensors = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in tensors.items()}
    return tensors, meta


def load_state_into(
    module: torch.nn.Module, path: str | os.PathLike, expect: Mapping[str, Any] | None = None, regenerate: str = ""
) -> dict[str, Any]:
    """Load a weights file into a module, turning shape/key mismatches into a WeightsError."""
    tensors, meta = load_weights(path, expect=expect, regenerate=regenerate)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0:3]
        raise WeightsError(
            f"{path} does not fit {type(module).__name__}: {' '.join(first)}.{_hint(regenerate)}"
        ) from e
    return meta


# --- resumable training checkpoints (model + optimizer + progress), still no pickle ---------------

def save_checkpoint(
    path: str | os.PathLike,
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    progress: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> Path:
    """Save everything training needs to resume, as one safetensors file."""
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, Any] = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"module.{name}.{k}"] = v
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        for idx, state in sd["state"].items():
            for k, v in state.items():
                t = v if isinstance(v, torch.Tensor) else torch.tensor(v)
                tensors[f"optim.{name}.{idx}.{k}"] = t
        groups[name] = sd["param_groups"]
    return save_weights(path, tensors, {**metadata, "checkpoint": {"progress": dict(progress), "param_groups": groups}})


def load_checkpoint(
    path: str | os.PathLike,
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    expect: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore modules and optimizers from `save_checkpoint`; returns the saved progress."""
    tensors, meta = load_weights(path, expect=expect, dtype=None)
    ckpt = meta.get("checkpoint")
    if ckpt is None:
        raise WeightsError(f"{path} holds weights only, not a resumable training checkpoint")
    for name, m in modules.items():
        prefix = f"module.{name}."
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            m.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise WeightsError(f"checkpoint {path} does not fit module {name!r}: {str(e).splitlines()[0]}") from e
    for name, opt in optimizers.items():
        prefix = f"optim.{name}."
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(idx), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": ckpt["param_groups"][name]})
    return ckpt["progress"]


def _existing(path: str | os.PathLike, regenerate: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing.{_hint(regenerate)}")
    return path


def _hint(regenerate: str) -> str:
    return f" Regenerate it with: {regenerate}" if regenerate else ""

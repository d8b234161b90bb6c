"""Safetensors weights with metadata: atomic writes, loads that never unpickle, errors that say what to do."""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cnr.atomic import atomic_path
from cnr.errors import WeightsError
from cnr.metadata import weights_payload
from cnr.paths import is_shipped, refuse_shipped
from cnr.version import __version__

_META_KEY = "cnr"
# {"sha256": ..., "dtypes": {name: dtype}} beside the metadata; the sha256 covers the tensors AND every other header
# entry (record_checksum), so an edited architecture is caught like an edited tensor
_INTEGRITY_KEY = "cnr.integrity"


class UnverifiedWeightsWarning(UserWarning):
    """A weights file loaded without a record that covers its tensors and metadata (nothing vouches for it)."""


def save_weights(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any],
    dtype: torch.dtype | None = None,
) -> Path:
    """Save tensors and JSON metadata atomically; `dtype` (e.g. fp16) shrinks floating tensors for git."""
    path = Path(path)
    refuse_shipped(path, "weights file")
    meta_text = weights_payload(path, tensors, {"code_version": __version__, **metadata}
                                if isinstance(metadata, Mapping) else metadata)
    out = {}
    for k, v in tensors.items():
        v = v.detach().cpu().contiguous().clone()  # clone: safetensors refuses tensors that share memory
        if dtype is not None and v.is_floating_point():
            w = v.to(dtype)
            if not torch.isfinite(w).all() and torch.isfinite(v).all():
                raise WeightsError(f"tensor {k!r} overflows {dtype} (|max| {v.abs().max().item():.4g}); "
                                   f"save {path} in float32 (dtype=None)")
            v = w
        out[k] = v
    header = {_META_KEY: meta_text}
    with atomic_path(path) as tmp:
        save_file(out, str(tmp), metadata={**header, _INTEGRITY_KEY: _integrity_record(out, header)})
    return path


def add_integrity_record(path: str | os.PathLike) -> bool:
    """Re-save a file whose record is missing or covers only its tensors with one that covers tensors and metadata,
    both untouched (bit for bit); False: it had a full record already."""
    path = _existing(path, "")
    header, tensors = _header(path, ""), _stored(path, "")
    if _check_tensors(path, tensors, header, "") == "verified":
        return False
    rest = {k: v for k, v in header.items() if k != _INTEGRITY_KEY}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={**rest, _INTEGRITY_KEY: _integrity_record(tensors, rest)})
    return True


def record_checksum(tensors: Mapping[str, torch.Tensor], header: Mapping[str, str]) -> str:
    """sha256 over the tensors (as tensor_checksum) and every header entry but the record: what the record holds."""
    h = hashlib.sha256(tensor_checksum(tensors).encode())
    h.update(json.dumps({k: v for k, v in header.items() if k != _INTEGRITY_KEY}, sort_keys=True).encode())
    return h.hexdigest()


def _integrity_record(tensors: Mapping[str, torch.Tensor], header: Mapping[str, str]) -> str:
    dtypes = {k: _dtype_name(v.dtype) for k, v in sorted(tensors.items())}
    return json.dumps({"sha256": record_checksum(tensors, header), "dtypes": dtypes}, sort_keys=True)


def tensor_checksum(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes (sorted by name): what save_weights records."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        v = tensors[k].detach().cpu().contiguous()
        h.update(json.dumps([k, _dtype_name(v.dtype), list(v.shape)]).encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _stored(path: Path, regenerate: str) -> dict[str, torch.Tensor]:
    """The tensors as stored (no dtype conversion, so their bytes are the ones the record covers)."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is corrupted or not a safetensors file ({e}).{_hint(regenerate)}") from e


def _header(path: Path, regenerate: str) -> dict[str, str]:
    """The safetensors header's string metadata."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a valid safetensors file ({e}).{_hint(regenerate)}") from e


def read_metadata(path: str | os.PathLike, regenerate: str = "") -> dict[str, Any]:
    """Read only the metadata of a weights file (cheap: the header)."""
    path = _existing(path, regenerate)
    raw = _header(path, regenerate).get(_META_KEY)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as e:
        raise WeightsError(f"{path} has corrupted cnr metadata ({e}).{_hint(regenerate)}") from e
    if not isinstance(meta, dict):  # valid JSON, but every reader looks fields up by name
        raise WeightsError(f"{path} has corrupted cnr metadata: a JSON {type(meta).__name__}, not an object of "
                           f"fields.{_hint(regenerate)}")
    return meta


def _check_tensors(path: Path, tensors: Mapping[str, torch.Tensor], header: Mapping[str, str], regenerate: str
                   ) -> str:
    """Checksum (when the file has one), recorded dtypes, and finiteness of every floating tensor.

    Returns what vouches for the file: "verified" (tensors and metadata), "tensors" (a record from before the
    metadata was covered) or "none" (no record)."""
    raw = header.get(_INTEGRITY_KEY)
    status = "none"
    if raw is not None:
        try:
            integrity = json.loads(raw)
            want_sum, want_dtypes = integrity["sha256"], integrity["dtypes"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise WeightsError(f"{path} has a corrupted integrity record ({e}); the file is damaged."
                               f"{_hint(regenerate)}") from e
        got = {k: _dtype_name(v.dtype) for k, v in tensors.items()}
        if sorted(got) != sorted(want_dtypes):
            missing = sorted(set(want_dtypes) - set(got))[:3]
            extra = sorted(set(got) - set(want_dtypes))[:3]
            raise WeightsError(f"{path} holds other tensors than it was saved with (missing {missing}, unexpected "
                               f"{extra}); the file is damaged.{_hint(regenerate)}")
        wrong = [f"{k!r} is {got[k]}, saved as {want_dtypes[k]}" for k in sorted(got) if got[k] != want_dtypes[k]]
        if wrong:
            raise WeightsError(f"{path}: tensor dtypes differ from those saved ({'; '.join(wrong[:3])}); "
                               f"the file is damaged.{_hint(regenerate)}")
        if record_checksum(tensors, header) == want_sum:
            status = "verified"
        elif tensor_checksum(tensors) == want_sum:
            status = "tensors"
        elif _META_KEY in header:
            raise WeightsError(f"{path}: checksum mismatch (its tensors or its metadata are not what was saved); "
                               f"the file is damaged or was edited.{_hint(regenerate)}")
        else:
            raise WeightsError(f"{path}: checksum mismatch (the tensor data is not what was saved); "
                               f"the file is damaged.{_hint(regenerate)}")
    for k in sorted(tensors):
        v = tensors[k]
        if v.is_floating_point() and not torch.isfinite(v).all():
            bad = int((~torch.isfinite(v)).sum())
            raise WeightsError(f"{path}: tensor {k!r} has {bad} of {v.numel()} values NaN or Inf (training diverged "
                               f"or the file is damaged).{_hint(regenerate)}")
    return status


def record_status(path: str | os.PathLike) -> str:
    """'verified' (a record over tensors and metadata), 'tensors' (an older kit's record over the tensors only) or
    'none' (no record: not written by the kit); a damaged file is a WeightsError."""
    path = _existing(path, "")
    return _check_tensors(path, _stored(path, ""), _header(path, ""), "")


def is_verified(path: str | os.PathLike) -> bool:
    """Whether a file carries a record that vouches for its tensors and metadata (a damaged one: WeightsError)."""
    return record_status(path) == "verified"


def _vouch(path: Path, status: str, allow_unverified: bool, regenerate: str) -> None:
    """Shipped files must carry a full record; other files without one load with a warning unless opted in."""
    if status == "verified":
        return
    what = ("has no integrity record" if status == "none"
            else "has an integrity record that covers its tensors but not its metadata")
    fix = f"re-save it with cnr.weights.add_integrity_record({str(path)!r}) if you trust it"
    if is_shipped(path):
        raise WeightsError(f"shipped weights {path} {what}; a shipped file must carry a valid one: restore it "
                           f"with git checkout, or {fix}.{_hint(regenerate)}")
    if not allow_unverified:
        warnings.warn(f"{path} {what}, so nothing vouches that its tensors and metadata are what was trained "
                      f"(a damaged file can restore NaN or classify at chance); {fix}, or pass "
                      f"allow_unverified=True", UnverifiedWeightsWarning, stacklevel=3)


def load_weights(
    path: str | os.PathLike,
    expect: Mapping[str, Any] | None = None,
    regenerate: str = "",
    dtype: torch.dtype | None = torch.float32,
    allow_unverified: bool = False,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load tensors and metadata, checking metadata fields against `expect` (architecture, QF, dataset...).

    A file without a record covering tensors and metadata is refused among the shipped weights and loads with an
    UnverifiedWeightsWarning elsewhere (`allow_unverified`: silently)."""
    path = _existing(path, regenerate)
    meta = read_metadata(path, regenerate)
    for key, want in (expect or {}).items():
        got = meta.get(key)
        if got != want:
            raise WeightsError(
                f"{path} was made for {key}={got!r}, but {key}={want!r} is needed.{_hint(regenerate)}"
            )
    tensors = _stored(path, regenerate)
    _vouch(path, _check_tensors(path, tensors, _header(path, regenerate), regenerate), allow_unverified, regenerate)
    if dtype is not None:
        tensors = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in tensors.items()}
    return tensors, meta


def load_state_into(
    module: torch.nn.Module, path: str | os.PathLike, expect: Mapping[str, Any] | None = None, regenerate: str = "",
    allow_unverified: bool = False,
) -> dict[str, Any]:
    """Load a weights file into a module, turning shape/key mismatches into a WeightsError."""
    tensors, meta = load_weights(path, expect=expect, regenerate=regenerate, allow_unverified=allow_unverified)
    check_fits(module, tensors, f"{path} does not fit {type(module).__name__}", regenerate)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0:3]
        raise WeightsError(
            f"{path} does not fit {type(module).__name__}: {' '.join(first)}.{_hint(regenerate)}"
        ) from e
    return meta


_KINDS = {"floating": "a float", "integer": "an integer", "bool": "a bool", "complex": "a complex"}


def _kind(t: torch.Tensor) -> str:
    if t.is_floating_point():
        return "floating"
    if t.is_complex():
        return "complex"
    return "bool" if t.dtype == torch.bool else "integer"


def check_fits(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], what: str, regenerate: str = "") -> None:
    """Every key of the module's state_dict present with its shape and dtype kind (load_state_dict would cast
    silently)."""
    want = module.state_dict()
    missing = [k for k in want if k not in tensors]
    extra = [k for k in tensors if k not in want]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} ({len(missing)})")
    if extra:
        problems.append(f"unexpected {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''} ({len(extra)})")
    for k, w in want.items():
        if k not in tensors:
            continue
        t = tensors[k]
        if tuple(t.shape) != tuple(w.shape):
            problems.append(f"{k} has shape {tuple(t.shape)}, the module needs {tuple(w.shape)}")
        elif _kind(t) != _kind(w):
            problems.append(f"{k} is stored as {_dtype_name(t.dtype)}, the module needs {_KINDS[_kind(w)]} tensor "
                            f"({_dtype_name(w.dtype)})")
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise WeightsError(f"{what}: {'; '.join(problems[:3])}{more}.{_hint(regenerate)}")


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
        check_fits(m, sd, f"checkpoint {path} does not fit module {name!r}")
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
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise WeightsError(f"a weights path must be a str or Path, got {type(path).__name__} {path!r}")
    path = Path(path)
    if not path.is_file():  # a folder, /dev/null or a pipe would read as a damaged file, or block
        what = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "missing"
        raise WeightsError(f"weights file {path} is {what}.{_hint(regenerate)}")
    return path


def _hint(regenerate: str) -> str:
    return f" Regenerate it with: {regenerate}" if regenerate else ""

"""The numbers each notebook records, for tests and for readers who want them without re-running.

Plain JSON files beside the executed notebooks (results/<run>/notebooks/<notebook>.json), not scrapbook: its last
release (0.5.0) requires pyarrow and reads values back only through the executed notebook, while these files
are read with `json` alone, diff cleanly in git, and need no Jupyter to inspect.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from cnr import atomic
from cnr.errors import InputError, path_error
from cnr.run import Run


def _plain(v: Any) -> Any:
    """JSON-ready: NumPy/torch scalars to Python numbers, NaN/inf to None, containers recursively."""
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        from cnr.paths import relative

        return relative(v)
    return v


def record(run: Run, notebook: str, **numbers: Any) -> Path:
    """Write a notebook's key numbers to results/<run>/notebooks/<notebook>.json (atomic); returns the path."""
    path = run.record_path(notebook)
    data = {"profile": run.profile.name, "run": run.name, "notebook": Path(notebook).stem, **_plain(numbers)}
    atomic.write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def read_record(run: Run, notebook: str) -> dict[str, Any]:
    """The numbers a notebook recorded with `record` (an InputError says which notebook to run if missing)."""
    path = run.record_path(notebook)
    again = f"run notebooks/{Path(notebook).stem}.ipynb (cnr reproduce --profile {run.profile.name})"
    if not path.is_file():
        raise InputError(f"{path} is {'a folder, not a file' if path.is_dir() else 'missing'}: {again}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise path_error(path, e, "read the record") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = str(e).splitlines()[0][:80]
        raise InputError(f"record {path} is damaged ({why}): {again} to write it again") from None
    if not isinstance(data, dict):
        raise InputError(f"record {path} is damaged (a JSON {type(data).__name__}, not an object): {again} to write "
                         f"it again")
    return data

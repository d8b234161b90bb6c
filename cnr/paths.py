"""The one place that knows the repository layout: shipped inputs (weights, data) apart from outputs (results)."""
from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()  # a clone of the repository, not a `pip install`
# Shipped weights are inputs the kit reads and never writes by default: package data, so that `pip install .`
# users have them too; retraining writes under results/<run>/models.
WEIGHTS_DIR = PACKAGE_DIR / "shipped"
DATA_DIR = REPO_ROOT / "data" if IN_CHECKOUT else Path.cwd() / "data"  # unless $CNR_DATA says otherwise: data_dir()
RESULTS_DIR = REPO_ROOT / "results" if IN_CHECKOUT else Path.cwd() / "results"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# A person's notebook sessions (JupyterLab, any launcher): their run folders and `make lab`'s notebook copies, ignored
# by git, so that the committed results/<run>/ change only through Papermill runs (`cnr reproduce`, `make`).
INTERACTIVE_DIR = RESULTS_DIR / "interactive"
LAB_DIR = INTERACTIVE_DIR / "notebooks"


def env_folder(var: str, default: Path | None = None) -> Path | None:
    """A folder from an environment variable, parsed like an argument: ~ expanded, a file or a blank refused.

    Unset: `default`. A shell expands ~ only in an unquoted word, so CNR_RESULTS='~/out' would otherwise make a
    folder named "~" in the working directory."""
    from cnr.errors import InputError

    text = os.environ.get(var)
    if text is None:
        return default
    if not text.strip():
        raise InputError(f"environment variable {var} is set but empty; unset it or give a folder path")
    folder = Path(text).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"environment variable {var}={text} is a file, not a folder; point it at a folder")
    return folder


def env_file(var: str, holds: str) -> Path | None:
    """A file from an environment variable, parsed like an argument: ~ expanded; blank, missing, a folder, a device or
    pipe, or an unreadable file refused in one line naming the variable, the path and what the file `holds`.

    Unset: None. A pipe would block the first read for ever, and a folder or /dev/null would read as an empty file."""
    from cnr.errors import InputError

    text = os.environ.get(var)
    if text is None:
        return None
    fix = f"point it at {holds}, or unset it"
    if not text.strip():
        raise InputError(f"environment variable {var} is set but empty; {fix}")
    path = Path(text).expanduser()
    if path.is_dir():
        raise InputError(f"environment variable {var}={text} is a folder, not a file; {fix}")
    if not path.is_file():
        what = "a device, pipe or socket, not a regular file" if path.exists() else "no such file"
        raise InputError(f"environment variable {var}={text}: {what}; {fix}")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise InputError(f"environment variable {var}={text} cannot be read ({e.strerror or e}); {fix}") from None
    return path


def data_dir() -> Path:
    """Where the kit's data files are looked for and downloaded to ($CNR_DATA, else data/)."""
    return env_folder("CNR_DATA", DATA_DIR)


def cache_dir() -> Path:
    """Where converted third-party weights and downscaled photos are cached ($CNR_CACHE, else ~/.cache/cnr)."""
    return env_folder("CNR_CACHE", Path.home() / ".cache" / "cnr")


def relative(path: str | os.PathLike) -> str:
    """A path as printed and recorded: relative to the repository when inside it, absolute otherwise."""
    p = Path(path).resolve()
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)


# True inside `shipped_writes_allowed()`: the one way to write into the shipped weights (`--overwrite-shipped`)
_SHIPPED_WRITABLE: contextvars.ContextVar[bool] = contextvars.ContextVar("cnr_shipped_writable", default=False)


@contextlib.contextmanager
def shipped_writes_allowed() -> Iterator[None]:
    """Within this block the shipped weights may be written (a maintainer refreshing them on purpose)."""
    token = _SHIPPED_WRITABLE.set(True)
    try:
        yield
    finally:
        _SHIPPED_WRITABLE.reset(token)


def is_shipped(path: str | os.PathLike) -> bool:
    """Whether `path`, however spelled (.., symlinks, relative), lies in the shipped weights folder."""
    return Path(path).expanduser().resolve().is_relative_to(WEIGHTS_DIR.resolve())


def refuse_shipped(path: str | os.PathLike, what: str = "output") -> None:
    """Refuse a write into the shipped weights outside `shipped_writes_allowed()`: they are inputs, not outputs."""
    from cnr.errors import InputError

    if is_shipped(path) and not _SHIPPED_WRITABLE.get():
        raise InputError(f"{what} {path} is inside the shipped weights ({relative(WEIGHTS_DIR)}), which no command "
                         f"overwrites by default; write elsewhere (the default is results/<run>/models/), or pass "
                         f"--overwrite-shipped if you really mean to replace them")

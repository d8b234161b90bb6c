"""Whole-file writes: a crash or an error leaves the old file or the new one, never half of one, and no temporary.

Every file the kit writes whole (results tables, outcomes, weights, records, figures) goes through here: the
content goes to a temporary file beside the target, is flushed to disk, and replaces the target in one rename. The
temporary is created with mode 0o666 so the umask applies exactly as for a plain open(), and a writer that makes its
own owner-only file (safetensors) gets that mode back: tempfile.mkstemp's 0600 would shut other readers of a shared
results folder out.
"""
from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cnr.errors import CnrError, path_error

TEMP_SUFFIX = ".tmp"  # never a data suffix, so a crashed write's leftover is not globbed as a table or weights file


def _create_temp(path: Path) -> Path:
    """An empty, new file beside `path`, hidden, created the way open(..., "w") would create it (umask applied)."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # O_EXCL: never someone else's file
    return tmp


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)  # fsync flushes the file's data whichever descriptor wrote it
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path for writers that need a file name (safetensors' save_file, DataFrame.to_csv, savefig with an
    explicit format): when the block ends without error the file is flushed to disk and moved onto `path`; on any
    error it is removed and `path` keeps its old content. Creates `path`'s folder if needed. (np.savez appends
    ".npz" to a name that lacks it: give it an open file, or use write_bytes on a BytesIO's bytes.)"""
    path = Path(path)
    try:
        if path.is_dir():  # os.replace would say only "Is a directory" after the work
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(path)
    except OSError as e:
        raise path_error(path, e, "write") from None
    try:
        mode = tmp.stat().st_mode & 0o7777
        yield tmp
        if tmp.stat().st_mode & 0o7777 != mode:  # a writer that made its own file (safetensors: owner-only)
            os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, CnrError):  # a full disk, a quota: said as the kit's error
            raise path_error(path, e, "write") from None
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` as a whole file (see atomic_path); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` as a whole file (see atomic_path); returns the path."""
    return write_bytes(path, text.encode(encoding))

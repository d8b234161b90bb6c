"""The kit's exceptions: each names the problem and, where there is one, the fix."""
import errno


class CnrError(Exception):
    """Base of every error the kit raises on purpose."""


class InputError(CnrError, ValueError):
    """Images, labels or parameters that break a contract (shape, dtype, range, name)."""


class MissingRows(InputError):
    """The results table lacks the rows a figure or table needs (a partial or a smaller grid)."""


class WeightsError(CnrError):
    """A weights file that is missing, corrupted, or made for another model."""


class DataNotFoundError(CnrError, FileNotFoundError):
    """A dataset that is neither on disk nor downloadable here."""


class PathError(CnrError, OSError):
    """A file or folder the kit cannot read or write: permissions, a read-only disk, a folder where a file goes."""


_FIXES = {
    errno.EACCES: "fix its permissions or use another path", errno.EPERM: "fix its permissions or use another path",
    errno.EROFS: "the file system is read-only; use a path on a writable one",
    errno.EISDIR: "a folder is in the way; move it or use another path",
    errno.ENOTDIR: "a file is in the way where the path needs a folder; move it or use another path",
    errno.ENOSPC: "the disk is full; free space or use another disk", errno.EDQUOT: "the disk quota is full",
    errno.ENOENT: "it does not exist; check the path",
}


def path_error(path: object, e: OSError, doing: str) -> PathError:
    """The kit's one-line error for an OSError while `doing` (e.g. "write") `path`: what failed and what to do."""
    reason = e.strerror or str(e) or type(e).__name__
    where = f" ({e.filename})" if e.filename and str(e.filename) != str(path) else ""
    fix = _FIXES.get(e.errno, "check the path and its permissions")
    return PathError(f"cannot {doing} {path}{where}: {reason}; {fix}")


def unknown_name(kind: str, name: str, valid) -> InputError:
    """Build the error for an unknown registry name, listing the valid ones."""
    return InputError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")

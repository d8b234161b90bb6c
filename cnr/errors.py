"""The kit's exceptions: each names the problem and, where there is one, the fix."""


class CnrError(Exception):
    """Base of every error the kit raises on purpose."""


class InputError(CnrError, ValueError):
    """Images, labels or parameters that break a contract (shape, dtype, range, name)."""


class WeightsError(CnrError):
    """A weights file that is missing, corrupted, or made for another model."""


class DataNotFoundError(CnrError, FileNotFoundError):
    """A dataset that is neither on disk nor downloadable here."""


def unknown_name(kind: str, name: str, valid) -> InputError:
    """Build the error for an unknown registry name, listing the valid ones."""
    return InputError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")

"""Which files of a bank folder are its generators, and whether they cover the QFs the defense will ask for.

Names are matched exactly (`qf05.safetensors`, `static.safetensors`): a near miss (`QF20.safetensors`,
`qf20.safetensor`, `qf5.safetensors`) is never read as a generator, and is named in the error when the QF it was
meant for is missing. The QF set a bank must hold is the one its static generator was trained on (its metadata)
and the one the caller (the profile) names: a missing QF would be served silently by a neighbour's generator, and
a QF outside that set would move the nearest-QF mapping, so both are refused or named.
"""
from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cnr.errors import WeightsError
from cnr.weights import read_metadata

STATIC = "static"
_SUFFIX = ".safetensors"
_CHECKPOINT = ".ckpt.safetensors"
# what a generator's name looks like to a person: any case, with or without the final "s", the QF unpadded
_LOOSE = re.compile(r"(?:qf\s*[-_]?\s*0*([0-9]+)|(static))\.safetensors?", re.IGNORECASE)


def qf_filename(qf: int | str) -> str:
    """`qf05.safetensors` for QF 5, `static.safetensors` for the static generator."""
    return f"{STATIC}{_SUFFIX}" if qf == STATIC else f"qf{int(qf):02d}{_SUFFIX}"


@dataclass(frozen=True)
class BankFiles:
    """A bank folder's generator files (exact names) and the names that look like generators but are not."""

    folder: Path
    per_qf: dict[int, Path]
    static: Path | None
    near_misses: tuple[str, ...]

    def near_miss_for(self, qf: int | str) -> list[str]:
        """The near-miss names that were probably meant as this QF's (or the static) generator."""
        want = qf_filename(qf)
        hits = [n for n in self.near_misses if (m := _LOOSE.fullmatch(n)) and
                ((m.group(2) is not None and qf == STATIC) or (m.group(1) is not None and qf != STATIC
                                                               and int(m.group(1)) == int(qf)))]
        return hits or difflib.get_close_matches(want, self.near_misses, n=2, cutoff=0.8)


def scan_bank(folder: Path) -> BankFiles:
    """The generators of a folder by exact name; training checkpoints and unrelated files left out."""
    per_qf: dict[int, Path] = {}
    static, near = None, []
    exact = {qf_filename(q): q for q in range(1, 101)}
    for f in sorted(folder.iterdir()):
        name = f.name
        if name.endswith(_CHECKPOINT) or not f.is_file():
            continue
        if name == qf_filename(STATIC):
            static = f
        elif name in exact:
            per_qf[exact[name]] = f
        elif _LOOSE.fullmatch(name) or (name.lower().startswith("qf") and ".safetensor" in name.lower()):
            near.append(name)
    return BankFiles(folder, per_qf, static, tuple(near))


def trained_qf_set(files: BankFiles) -> tuple[int, ...]:
    """The QF set the bank was trained for, from its static generator's metadata (empty when it does not say)."""
    if files.static is None:
        return ()
    qf_set = read_metadata(files.static).get("qf_set")
    if not isinstance(qf_set, list) or not all(isinstance(q, int) and not isinstance(q, bool) for q in qf_set):
        return ()
    return tuple(qf_set)


def _nearest(qf: int, qfs: Iterable[int]) -> int:
    return min(qfs, key=lambda q: (abs(q - qf), -q))  # RestorerBank.nearest's rule: a tie goes to the higher QF


def check_coverage(files: BankFiles, expected: Iterable[int], allow_missing: bool = False,
                   regenerate: str = "") -> tuple[int, ...]:
    """The QFs to load: every expected one must be present (missing ones: WeightsError, or with `allow_missing` a
    warning naming the generator that stands in); present QFs outside a stated set are left out with a warning."""
    expected = tuple(sorted(set(expected)))
    present = tuple(sorted(files.per_qf))
    hint = f" Regenerate it with: {regenerate}" if regenerate else ""
    if not present:
        near = f" (found {', '.join(files.near_misses[:5])}: names must be exactly qfNN{_SUFFIX})" \
            if files.near_misses else ""
        train = f" Train it with: {regenerate}" if regenerate else ""
        raise WeightsError(f"no AR-GAN weights (qfNN{_SUFFIX}) in {files.folder}{near}.{train}")
    if not expected:
        _warn_near_misses(files, ())
        return present
    missing = [q for q in expected if q not in files.per_qf]
    if missing:
        parts = []
        for q in missing:
            near = files.near_miss_for(q)
            parts.append(f"QF {q} ({qf_filename(q)}" + (f"; found {' and '.join(near)}: rename it to "
                                                           f"{qf_filename(q)}" if near else "") + ")")
        if not allow_missing:
            raise WeightsError(f"AR-GAN bank {files.folder} lacks the generator of {', '.join(parts)}; the defense "
                               f"draws from QFs {list(expected)}, and a neighbour's generator would serve it "
                               f"silently.{hint}")
    usable = [q for q in present if q in expected] or list(present)
    if missing:  # allowed: one warning naming every substitution
        served = ", ".join(f"QF {q} is served by {qf_filename(_nearest(q, usable))}" for q in missing)
        warnings.warn(f"AR-GAN bank {files.folder} has no {', '.join(qf_filename(q) for q in missing)}: {served}",
                      stacklevel=4)
    extra = [q for q in present if q not in expected]
    if extra and len(usable) < len(present):
        warnings.warn(f"AR-GAN bank {files.folder}: left out {', '.join(qf_filename(q) for q in extra)}, outside "
                      f"the QF set {list(expected)} the bank serves (they would change which generator serves "
                      f"each QF)", stacklevel=4)
    _warn_near_misses(files, missing)
    return tuple(usable)


def _warn_near_misses(files: BankFiles, named: Iterable[int]) -> None:
    """Near-miss names not already named in an error or substitution warning."""
    said = {n for q in named for n in files.near_miss_for(q)}
    rest = [n for n in files.near_misses if n not in said]
    if rest:
        warnings.warn(f"{files.folder}: ignored {len(rest)} file(s) whose names are not exactly qfNN{_SUFFIX} or "
                      f"{qf_filename(STATIC)} ({', '.join(rest[:5])}); rename them to use them", stacklevel=4)

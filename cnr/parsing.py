"""Strict parsers and checks of plain values (counts, QFs, seeds, flags, parameters); nothing is parsed loosely.

Each takes the value (text or an already-typed Python value) and an optional `name`, and raises InputError naming
the argument, the value and what is allowed. Every integer goes through `check_int` (QFs through `check_qf`).
For argparse, wrap one with `argtype`, which raises argparse.ArgumentTypeError instead (one usage line,
"argument --budget: ...", exit code 2)::

    p.add_argument("--budget", type=argtype(nonnegative_float, finite=False))
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from cnr.errors import InputError, unknown_name

T = TypeVar("T")

QF_MIN, QF_MAX = 1, 100  # libjpeg's quality factors
SEED_MAX = 2**32 - 1  # numpy's legacy seeding takes 32 bits; torch takes more, but one range for all
EFFORT_MAX = 10**6  # steps, queries, draws, samples: more is a typo that would run for days or not fit in memory

_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")
_INT = re.compile(r"[+-]?[0-9]+")


def _who(name: str | None) -> str:
    return f"{name}: " if name else ""


def _is_int(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_words(lo: int | None, hi: int | None, optional: bool = False) -> str:
    """The allowed integers in words, the same in every message."""
    if lo is not None and hi is not None:
        text = f"an integer in [{lo}, {hi}]"
    elif lo is not None:
        text = f"an integer >= {lo}"
    else:
        text = "an integer" if hi is None else f"an integer <= {hi}"
    return text + (" (or None)" if optional else "")


def _int_hint(value: Any, text: bool) -> str:
    """How to fix a value of the wrong type that was meant as a whole number."""
    if isinstance(value, float) and value.is_integer():
        return f"; pass {int(value)}"
    if isinstance(value, float):
        return "; pass a whole number"
    if not text and isinstance(value, str) and _INT.fullmatch(value.strip()):
        return f"; pass {int(value)} (a number, not text)"
    return ""


def check_int(value: Any, name: str | None = None, lo: int | None = None, hi: int | None = None, *,
              text: bool = False, optional: bool = False) -> int | None:
    """The kit's one integer check: a whole number in [lo, hi] (None: open-ended) as an int.

    Python and numpy ints pass; bools, floats (even 2.0) and other types are refused, and so is text unless
    `text` (command lines, configs), where only integer text ('12', not '2.5' or '1e3') passes. `optional`:
    None passes too (and is returned).
    """
    if value is None and optional:
        return None
    want = _int_words(lo, hi, optional)
    if _is_int(value):
        n = int(value)
    elif text and isinstance(value, str) and _INT.fullmatch(value.strip()):
        n = int(value.strip())
    else:
        got = repr(value) if text and isinstance(value, str) else f"{type(value).__name__} {value!r}"
        raise InputError(f"{_who(name)}expected {want}, got {got}{_int_hint(value, text)}")
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise InputError(f"{_who(name)}expected {want}, got {n}")
    return n


def check_qf(value: Any, name: str | None = "qf", *, text: bool = False) -> int:
    """A JPEG quality factor: an integer in [QF_MIN, QF_MAX]."""
    return check_int(value, name, QF_MIN, QF_MAX, text=text)


def positive_int(value: str | int, name: str | None = None) -> int:
    """A whole number >= 1 from text or an int (counts, sizes, steps): `check_int` for command lines."""
    return check_int(value, name, 1, text=True)


def nonnegative_int(value: str | int, name: str | None = None) -> int:
    """A whole number >= 0 from text or an int (e.g. a phase that may be skipped): `check_int` for command lines."""
    return check_int(value, name, 0, text=True)


def parse_seed(value: str | int, name: str | None = None) -> int:
    """A seed: a whole number in 0..SEED_MAX from text or an int (no silent truncation of 1.5 or '1.0')."""
    return check_int(value, name, 0, SEED_MAX, text=True)


def parse_bool(value: str | bool | int, name: str | None = None) -> bool:
    """true/false, yes/no, 1/0, on/off (any case) -> bool; anything else is refused, unlike bool('no') == True."""
    if isinstance(value, bool):
        return value
    if _is_int(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InputError(f"{_who(name)}expected a boolean (true/false, yes/no, 1/0, on/off), got {value!r}")


def nonnegative_float(value: str | float, name: str | None = None, finite: bool = True) -> float:
    """A number >= 0 (budgets, rates); NaN always refused, inf only with finite=False (an unbounded budget)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) and not _is_number(value):
        raise InputError(f"{_who(name)}expected a number >= 0, got {type(value).__name__} {value!r}")
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise InputError(f"{_who(name)}expected a number >= 0 (e.g. 0.03 or 8/255 written as 0.0314), "
                         f"got {value!r}") from None
    if math.isnan(x):
        raise InputError(f"{_who(name)}expected a number >= 0, got NaN")
    if math.isinf(x) and (finite or x < 0):
        raise InputError(f"{_who(name)}expected a finite number >= 0, got {value!r}")
    if math.isinf(x) and isinstance(value, str) and value.strip().lower().lstrip("+") not in ("inf", "infinity"):
        raise InputError(f"{_who(name)}{value!r} overflows to infinity; write inf for an unbounded budget")
    if x < 0:
        raise InputError(f"{_who(name)}expected a number >= 0, got {x:g}")
    return x


def _is_number(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (np.integer, np.floating))


def parse_qf_range(value: str | int | tuple[int, int] | list[int], name: str | None = None, *,
                   text: bool = True) -> tuple[int, int]:
    """'40', '20,60', '(20, 60)', '[20, 60]', 40 or (20, 60) -> (lo, hi) with QF_MIN <= lo <= hi <= QF_MAX.

    `text=False` takes Python values only (an int or a pair), for functions called with typed arguments."""
    what = f"a JPEG quality factor or a range lo,hi of them (integers {QF_MIN}..{QF_MAX}, e.g. 20,60)"
    if text and isinstance(value, str):
        body = value.strip()
        if len(body) >= 2 and (body[0], body[-1]) in (("(", ")"), ("[", "]")):
            body = body[1:-1]
        if re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", body):
            lo, hi = (t.strip() for t in body.split("-"))
            raise InputError(f"{_who(name)}{value!r} is not a QF range: write it as {lo},{hi} (lo,hi), not with '-'")
        parts = [t.strip() for t in body.split(",")] if body else []
    elif isinstance(value, (tuple, list)):
        parts = list(value)
    elif _is_int(value):
        parts = [value]
    else:
        raise InputError(f"{_who(name)}expected {what}, got {type(value).__name__} {value!r}")
    if len(parts) not in ((2,) if isinstance(value, (tuple, list)) else (1, 2)):  # (20,): a pair missing an end
        raise InputError(f"{_who(name)}expected {what}, got {len(parts)} values in {value!r}")
    lo, hi = (check_qf(q, name, text=text) for q in (parts[0], parts[-1]))
    if lo > hi:
        raise InputError(f"{_who(name)}QF range must have lo <= hi, got {lo},{hi}; did you mean {hi},{lo}?")
    return (lo, hi)


def parse_param_value(name: str, text: Any, default: Any) -> Any:
    """Parse an attack parameter by the type of its default (bool, int, float, str; None: JSON or text)."""
    label = f"parameter {name!r}"
    if isinstance(default, bool):
        return parse_bool(text, label)
    if _is_int(default):
        return check_int(text, label, text=True)
    if isinstance(default, float):
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise InputError(f"{label}: expected a number (its default is {default!r}), got {text!r}")
        try:
            x = float(text.strip() if isinstance(text, str) else text)
        except ValueError:
            raise InputError(f"{label}: expected a number (its default is {default!r}), got {text!r}") from None
        if math.isnan(x):
            raise InputError(f"{label}: expected a number (its default is {default!r}), got NaN")
        return x
    if isinstance(default, str):
        if not isinstance(text, str):
            raise InputError(f"{label}: expected text (its default is {default!r}), got {type(text).__name__} {text!r}")
        return text
    if default is None:
        if not isinstance(text, str):
            return text
        try:
            return json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return text
    if isinstance(default, (list, tuple, dict)):
        kind = type(default)
        value = text
        if isinstance(text, str):
            try:
                value = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                raise InputError(f"{label}: expected a JSON {kind.__name__} like {json.dumps(default)}, "
                                 f"got {text!r}") from None
        ok = isinstance(value, dict) if kind is dict else isinstance(value, (list, tuple))
        if not ok:
            raise InputError(f"{label}: expected a {kind.__name__} like {json.dumps(default)}, got {value!r}")
        return kind(value) if kind is not dict else value
    raise InputError(f"{label}: cannot parse a value for a default of type {type(default).__name__}")


def parse_params(items: Iterable[str] | None, defaults: Mapping[str, Any] | None = None,
                 what: str = "--param") -> dict[str, Any]:
    """'name=value' items -> dict, each value typed by its default; unknown names refused when defaults are given."""
    out: dict[str, Any] = {}
    for item in items or []:
        if not isinstance(item, str) or "=" not in item:
            raise InputError(f"{what} takes name=value (e.g. steps=20), got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key:
            raise InputError(f"{what} takes name=value (e.g. steps=20), got {item!r}: the name is empty")
        if key in out:
            raise InputError(f"{what} {key} is given twice; give each parameter once")
        if defaults is None:
            out[key] = parse_param_value(key, text, None)
        elif key not in defaults:
            raise unknown_name("parameter", key, defaults)
        else:
            out[key] = parse_param_value(key, text, defaults[key])
    return out


def argtype(fn: Callable[..., T], **kwargs: Any) -> Callable[[str], T]:
    """An argparse `type=` from a parser: InputError becomes ArgumentTypeError (one usage line, exit code 2)."""

    @functools.wraps(fn)
    def parse(text: str) -> T:
        try:
            return fn(text, **kwargs)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


# --- ranges of parameters, declared beside their defaults -----------------------------------------

@dataclass(frozen=True)
class Limit:
    """The values a parameter may take, declared next to its default and checked once where params are merged.

    kind "int": an integer in [lo, hi] (`check_int`; an open end excludes it); "number": a finite number with lo/hi
    open or closed; "choice": one of `choices`; "bool": a boolean. `optional`: None is allowed too (e.g. "default
    step size")."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    allow_inf: bool = False  # +inf allowed (an unbounded budget); NaN never

    def describe(self) -> str:
        """The allowed values in words, for the error message."""
        if self.kind == "choice":
            text = "one of " + ", ".join(map(repr, self.choices))
        elif self.kind == "bool":
            text = "a boolean (true/false)"
        elif self.kind == "int":
            return _int_words(*self._int_bounds(), optional=self.optional)
        else:
            what = "a number" if self.allow_inf else "a finite number"
            if self.lo is not None and self.hi is not None:
                text = f"{what} in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
            elif self.lo is not None:
                text = f"{what} {'>' if self.lo_open else '>='} {self.lo:g}"
            elif self.hi is not None:
                text = f"{what} {'<' if self.hi_open else '<='} {self.hi:g}"
            else:
                text = what
        return text + (" (or None)" if self.optional else "")

    def check(self, value: Any, name: str) -> Any:
        """Return `value` if it is allowed, else raise InputError naming the parameter, the value and the range."""
        if value is None and self.optional:
            return None
        if self.kind == "bool":
            return parse_bool(value, name)
        if self.kind == "int":
            return check_int(value, name, *self._int_bounds(), optional=self.optional)
        bad = InputError(f"{name}: expected {self.describe()}, got {value!r}")
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if isinstance(value, bool) or not (_is_int(value) or isinstance(value, float) or _is_number(value)):
            raise bad
        x = float(value)
        if math.isnan(x) or (math.isinf(x) and not (self.allow_inf and x > 0)) or not self._inside(x):
            raise bad
        return value

    def _int_bounds(self) -> tuple[int | None, int | None]:
        """The closed integer range of an "int" limit."""
        lo = None if self.lo is None else math.floor(self.lo) + 1 if self.lo_open else math.ceil(self.lo)
        hi = None if self.hi is None else math.ceil(self.hi) - 1 if self.hi_open else math.floor(self.hi)
        return lo, hi

    def _inside(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.lo_open else x < self.lo):
            return False
        return not (self.hi is not None and (x >= self.hi if self.hi_open else x > self.hi))


def count_limit(minimum: int = 1, hi: int | None = EFFORT_MAX) -> Limit:
    """A whole number in [minimum, hi] (steps, queries, draws, batches); hi None: open-ended (a row's own counts)."""
    return Limit("int", lo=minimum, hi=hi)


def number_limit(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
                 optional: bool = False, allow_inf: bool = False) -> Limit:
    """A finite number in a range, each end open or closed (e.g. p_init in (0, 1]); `allow_inf`: +inf too."""
    return Limit("number", lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, optional=optional, allow_inf=allow_inf)


def choice_limit(*choices: str) -> Limit:
    """One name of a fixed set (a loss, a search strategy)."""
    return Limit("choice", choices=tuple(choices))


FLAG = Limit("bool")


def check_limits(values: Mapping[str, Any], limits: Mapping[str, Limit], what: str) -> dict[str, Any]:
    """Check every value that has a Limit (`what` names them in messages, e.g. "attack 'square' parameter")."""
    return {k: (limits[k].check(v, f"{what} {k!r}") if k in limits else v) for k, v in values.items()}

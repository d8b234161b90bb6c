"""One way to declare a setting and check it: a type hint plus a `Limit` beside the default, checked on construction.

A profile part is a frozen dataclass deriving from `Part`; each field is declared with `setting(default, limit)`.
Building the part checks every field's type (the hint), each value against its limit (every element of a tuple),
and the part's own cross-field rule (`Part.rule`). Nothing here knows a registry: names of datasets, attacks or
groups are checked by `cnr.preflight` at the run's boundary.
"""
from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from cnr.errors import InputError
from cnr.parsing import Limit


def setting(default: Any = MISSING, limit: Limit | None = None, *, unique: bool = False, nonempty: bool = False,
            factory: Any = MISSING) -> Any:
    """A dataclass field whose allowed values are declared beside its default (checked by `check_part`)."""
    meta = {"limit": limit, "unique": unique, "nonempty": nonempty}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Part:
    """A frozen group of settings of one subsystem; checked once, when built."""

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_part(self)

    def rule(self) -> str | None:
        """Why the values, each fine alone, do not fit together (None when they do)."""
        return None


def type_name(hint: Any) -> str:
    """A type hint in words for messages."""
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def conforms(value: Any, hint: Any) -> bool:
    """Whether a plain value fits a type hint (int, float, str, bool, X | None, tuple[...], dict[...], Part)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
    if origin is dict:
        return isinstance(value, dict) and all(conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items())
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def as_tuples(v: Any) -> Any:
    """Lists (JSON, Papermill parameters) as the tuples settings hold, at any depth (dicts stay dicts)."""
    if isinstance(v, (list, tuple)):
        return tuple(as_tuples(x) for x in v)
    if isinstance(v, dict):
        return {k: as_tuples(x) for k, x in v.items()}
    return v


def _coerce(value: Any, hint: Any) -> Any:
    """Ints where a float is declared become floats (1 -> 1.0), so a setting has one spelling in tables."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(hint) is tuple and isinstance(value, tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and float in typing.get_args(hint):
        return _coerce(value, float)
    return value


def check_part(part: Part) -> None:
    """Check every field of a part (type, limit, uniqueness, non-emptiness), then the part's own rule."""
    hints = typing.get_type_hints(type(part))
    where = f"profile setting {part.section}." if part.section else "profile setting "
    for f in fields(part):
        value = as_tuples(getattr(part, f.name))
        hint = hints[f.name]
        value = _coerce(value, hint)
        object.__setattr__(part, f.name, value)
        name = where + f.name
        if not conforms(value, hint):
            raise InputError(f"{name} takes {type_name(hint)}, got {value!r}")
        meta = f.metadata
        limit = meta.get("limit")
        if limit is not None and value is not None:
            for v in value if isinstance(value, tuple) else (value,):
                limit.check(v, name)
        if meta.get("nonempty") and not value:
            raise InputError(f"{name} needs at least one value, got {value!r}")
        if meta.get("unique") and isinstance(value, tuple) and len(set(value)) != len(value):
            twice = sorted({repr(v) for v in value if value.count(v) > 1})
            raise InputError(f"{name} lists {', '.join(twice)} more than once in {value!r}; give each value once")
    problem = part.rule()
    if problem:
        subject = f"profile {part.section}" if part.section else where.rstrip(". ")
        raise InputError(f"{subject}: {problem}")

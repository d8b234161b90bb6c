"""Defenses as a registry of builders: a spec names its builder and carries its settings as table columns.

Adding a defense variant is one file with a builder `fn(spec, bank, grad, seed) -> nn.Module | None` and one
`register_defense(name, builder, family)` call, where `family(grid) -> [DefenseSpec, ...]` says which specs of
it a grid of that shape (the profile's `grid` part) runs and in which roles ("main": every budget and attack;
"ablation": the reference budgets of the ablation groups; "n-sweep": the N ablation; "fixed-qf": the fixed-QF
variant). The undefended classifier is the empty defense: its builder returns None.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from cnr.config import Grid, Profile
from cnr.errors import InputError, unknown_name

Builder = Callable[["DefenseSpec", Any, str, int], "nn.Module | None"]
Family = Callable[[Grid], "list[DefenseSpec]"]
Variant = Callable[[str, Grid], "DefenseSpec | None"]


@dataclass(frozen=True)
class DefenseSpec:
    """A named defense configuration; `mode`, `n_iter` and `qf_range` become columns of the results table."""

    name: str
    builder: str
    mode: str = "none"  # what it is, for figures: none | jpeg | static | dynamic | any new word
    n_iter: int = 0
    qf_range: tuple[int, int] | None = None
    roles: frozenset[str] = field(default=frozenset({"main"}))
    options: tuple[tuple[str, Any], ...] = ()  # builder-specific settings

    def build(self, bank: nn.Module | None, grad: str = "bpda", seed: int = 0) -> nn.Module | None:
        """The defense module in front of the classifier (None: the classifier alone)."""
        if self.builder not in BUILDERS:
            raise unknown_name("defense builder", self.builder, BUILDERS)
        return BUILDERS[self.builder](self, bank, grad, seed)

    @property
    def needs_bank(self) -> bool:
        return self.mode in ("static", "dynamic")

    def columns(self) -> dict[str, Any]:
        """The defense's settings as results-table columns (figures select on these, not on the name)."""
        lo, hi = self.qf_range if self.qf_range is not None else (None, None)
        return dict(defense=self.name, mode=self.mode, n_iter=self.n_iter, qf_lo=lo, qf_hi=hi,
                    random_qf=lo is not None and lo != hi, roles=",".join(sorted(self.roles)))


BUILDERS: dict[str, Builder] = {}
FAMILIES: dict[str, Family] = {}
VARIANTS: dict[str, Variant] = {}


def register_defense(name: str, builder: Builder, family: Family | None = None, variant: Variant | None = None
                     ) -> None:
    """Register a builder (and, to appear in the grid, the family of specs a profile runs; to be built by a name
    outside the grid, `variant(name, profile)`, which returns the spec that name means or None)."""
    if not callable(builder):
        raise InputError(f"defense builder {name!r} must be callable")
    BUILDERS[name] = builder
    if family is not None:
        FAMILIES[name] = family
    if variant is not None:
        VARIANTS[name] = variant


def unregister_defense(name: str) -> None:
    """Remove a registration (tests register toys at run time)."""
    BUILDERS.pop(name, None)
    FAMILIES.pop(name, None)
    VARIANTS.pop(name, None)


def grid_defenses(profile: Profile) -> list[DefenseSpec]:
    """Every defense spec the profile's grid runs, in registration order; names must be unique."""
    return defense_specs(profile.grid)


def defense_specs(grid: Grid) -> list[DefenseSpec]:
    """Every defense spec a grid of this shape runs, in registration order; names must be unique."""
    out: list[DefenseSpec] = []
    for fam in FAMILIES.values():
        out += fam(grid)
    names = [d.name for d in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two registered defenses share the name(s) {', '.join(dup)}")
    return out


def defense_by_name(profile: Profile, name: str, n_iter: int | None = None) -> DefenseSpec:
    """A grid defense by name, else a registered variant (`static-N<k>`/`dynamic-N<k>` outside the profile's Ns)."""
    specs = {d.name: d for d in grid_defenses(profile)}
    if name in specs:
        return specs[name]
    for variant in VARIANTS.values():
        spec = variant(name, profile.grid)
        if spec is not None:
            return spec
    raise unknown_name("defense", name, specs)

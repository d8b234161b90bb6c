"""The declarative grid: cell groups (attack, gradient view, sample, defenses, budgets, kind) in one registry.

A new attack appears in the grid, tables, figures and sanity checks with its `cnr.attacks` entry plus one
`register_group(CellGroup(...))` here. A group's parameters come from the profile's `attacks` mapping: the
attack's entry, then what defines the group (`fixed`), then the group's own entry; `build_grid(profile)` expands
every group.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cnr.attacks import attack_params
from cnr.attacks.base import check_budget
from cnr.cells.specs import KINDS, SAMPLES, VIEWS, AttackSpec, Cell
from cnr.config import Profile
from cnr.defenses.registry import DefenseSpec, grid_defenses
from cnr.errors import InputError, unknown_name
from cnr.parsing import parse_params

Budgets = Callable[[Profile], "list[tuple[str, float]]"]
Selector = Callable[["list[DefenseSpec]", bool], "list[DefenseSpec]"]


def select(roles: Sequence[str], at_ref: Sequence[str] = (), exclude: Sequence[str] = (),
           ref_modes: Sequence[str] | None = None) -> Selector:
    """Defenses with any of `roles`; at the reference budgets also those with `at_ref` roles (of `ref_modes`)."""
    def pick(specs: list[DefenseSpec], ref: bool) -> list[DefenseSpec]:
        out = [d for d in specs if d.roles & set(roles) and d.mode not in exclude]
        if ref:
            out += [d for d in specs if d.roles & set(at_ref) and d not in out and d.mode not in exclude
                    and (ref_modes is None or d.mode in ref_modes)]
        return out

    return pick


def sweep(p: Profile) -> list[tuple[str, float]]:
    """Every budget of the profile's curves."""
    return [("linf", b) for b in p.grid.linf_budgets] + [("l2", b) for b in p.grid.l2_budgets]


def refs(p: Profile) -> list[tuple[str, float]]:
    """The reference budgets of the single-budget cells."""
    return [("linf", p.grid.ref_linf), ("l2", p.grid.ref_l2)]


@dataclass(frozen=True)
class CellGroup:
    """One row family of the results table; its cells are (defense, budget) pairs of one attack setting."""

    label: str
    attack: str
    kind: str
    budgets: Budgets
    defenses: Selector
    fixed: tuple[tuple[str, object], ...] = ()  # parameters that make the group what it is (e.g. a margin loss)
    needs: tuple[str, ...] = ()  # parameters the profile's mapping must set for this group (e.g. EOT samples)
    view: str = "bpda"
    sample: str = "eval"
    ablation: bool = False
    default: bool = True  # False: only in profiles that name it in `groups` (the study's attacks)
    decisive: bool = False  # with the profile's `decisive_sweep`: every budget, every main and fixed-QF defense

    def params(self, p: Profile) -> tuple[tuple[str, object], ...]:
        """The parameters the profile sets for this group, over the attack's registry defaults (sorted pairs)."""
        merged = {**p.attacks.get(self.attack, {}), **dict(self.fixed), **p.attacks.get(self.label, {})}
        return tuple(sorted(merged.items()))

    def cells(self, p: Profile, specs: list[DefenseSpec]) -> list[Cell]:
        ref = set(refs(p))
        sweeping = self.decisive and p.grid.decisive_sweep  # adds cells to the group's own, never drops one
        mine = self.budgets(p)
        out = []
        for norm, b in dict.fromkeys(mine + (sweep(p) if sweeping else [])):
            spec = AttackSpec(self.label, self.attack, norm, b, view=self.view, sample=self.sample,
                              params=self.params(p), kind=self.kind, ablation=self.ablation)
            own = self.defenses(specs, (norm, b) in ref) if (norm, b) in mine else []
            chosen = own + [d for d in specs if sweeping and d not in own and d.roles & {"main", "fixed-qf"}]
            out += [Cell(d, spec) for d in chosen]
        return out


GROUPS: dict[str, CellGroup] = {}


def register_group(group: CellGroup) -> CellGroup:
    """Add a cell group to every profile's grid (labels are unique; kinds and views are checked)."""
    if group.kind not in KINDS:
        raise InputError(f"cell group {group.label!r}: kind must be one of {', '.join(KINDS)}, got {group.kind!r}")
    if group.view not in VIEWS:
        raise InputError(f"cell group {group.label!r}: view must be one of {', '.join(VIEWS)}, got {group.view!r}")
    if group.sample not in SAMPLES:
        raise InputError(f"cell group {group.label!r}: sample must be one of {', '.join(SAMPLES)}, "
                         f"got {group.sample!r}")
    GROUPS[group.label] = group
    return group


def unregister_group(label: str) -> None:
    GROUPS.pop(label, None)


def build_grid(p: Profile) -> list[Cell]:
    """Every cell of the profile's grid, group by group in registration order
    (only `p.grid.groups` when it names some)."""
    specs = grid_defenses(p)
    return [c for g in grid_groups(p) for c in g.cells(p, specs)]


def group_params(p: Profile, label: str) -> dict[str, object]:
    """The parameters the grid runs for a cell group (what `cnr attack --group` runs too)."""
    if label not in GROUPS:
        raise unknown_name("cell group", label, GROUPS)
    return dict(GROUPS[label].params(p))


def attack_spec(p: Profile, attack: str | None, group: str | None, norm: str, budget: float, view: str | None,
                params: Sequence[str] | None = None) -> AttackSpec:
    """What `cnr attack` runs: a group's attack, view and parameters as the grid runs them, or an attack with the
    profile's settings for it; `params` ('name=value') on top. Checked before any model is loaded."""
    if group is not None:
        if group not in GROUPS:
            raise unknown_name("cell group", group, GROUPS)
        g = GROUPS[group]
        if attack is not None and attack != g.attack:
            raise InputError(f"cell group {group!r} runs attack {g.attack!r}, not {attack!r}; give one of them")
        base, label, view, sample, kind = dict(g.params(p)), g.label, view or g.view, g.sample, g.kind
        attack = g.attack
    else:
        attack = attack or "pgd"
        base, label, view, sample, kind = dict(p.attacks.get(attack, {})), attack, view or "bpda", "eval", "adaptive"
    if view not in VIEWS:
        raise unknown_name("gradient view", view, VIEWS)
    budget = check_budget(budget, norm)
    given = parse_params(params or [], attack_params(attack))
    merged = {**base, **given}
    attack_params(attack, **merged)
    return AttackSpec(label, attack, norm, budget, view=view, sample=sample, params=tuple(sorted(merged.items())),
                      kind=kind)


def grid_groups(p: Profile) -> list[CellGroup]:
    """The profile's cell groups in registration order: those it names, or every default one."""
    unknown = sorted(set(p.grid.groups) - set(GROUPS))
    if unknown:
        raise InputError(f"profile {p.name!r} names unknown cell group(s) {', '.join(unknown)}; "
                         f"registered: {', '.join(GROUPS)}")
    return [g for g in GROUPS.values() if (g.label in p.grid.groups if p.grid.groups else g.default)]


ALL = ("main", "ablation")
DEFENDED = select(("main",), exclude=("none",))
unbounded_l2: Budgets = lambda p: [("l2", float("inf"))]  # noqa: E731
EOT = ("eot",)  # an EOT group without its sample count in the profile would quietly run plain PGD

for _g in (
    CellGroup("clean", "clean", "clean", lambda p: [("linf", 0.0)], select(ALL)),
    CellGroup("bpda-pgd", "pgd", "adaptive", sweep, select(("main",), ("ablation",)), ablation=True,
              decisive=True),
    CellGroup("oblivious-pgd", "pgd", "white-box", sweep, DEFENDED, view="oblivious"),
    CellGroup("eot-bpda-pgd", "pgd", "adaptive", lambda p: sweep(p) if p.grid.eot_sweep else refs(p),
              select(("main",), ("n-sweep",), ("none",), ("dynamic",)),
              needs=EOT, sample="costly", ablation=True, decisive=True),
    CellGroup("generalized-bpda-pgd", "pgd", "adaptive", refs, select(ALL, exclude=("none",)),
              view="identity", ablation=True, decisive=True),
    CellGroup("eot-diffjpeg-pgd", "pgd", "adaptive", refs, select(("main",), exclude=("none", "jpeg")), needs=EOT,
              view="surrogate", sample="costly"),
    CellGroup("deepfool", "deepfool", "minimal", unbounded_l2, select(("main",)), sample="costly"),
    CellGroup("cw", "cw", "minimal", unbounded_l2, select(("main",)), sample="costly"),
    CellGroup("square", "square", "black-box", lambda p: [r for r in refs(p) if r[0] in p.grid.square_norms],
              select(("main",)), sample="blackbox"),
    CellGroup("nattack", "nattack", "black-box", lambda p: [("linf", p.grid.ref_linf)], select(("main",)),
              sample="blackbox"),
    CellGroup("hsj", "hsj", "black-box", lambda p: [("l2", p.grid.ref_l2)], select(("main",)), sample="blackbox"),
    CellGroup("autoattack-rand", "autoattack_rand", "adaptive", lambda p: [("linf", p.grid.ref_linf)],
              select(("main",)), sample="costly", decisive=True),
):
    register_group(_g)


def generators_and_jpeg_at_ref(specs: list[DefenseSpec], ref: bool) -> list[DefenseSpec]:
    """The main generator defenses at every budget, JPEG at the reference only: a 224-px cell of the margin EOT-BPDA
    costs 600-2,000 CPU-s (benchmarks/NOTES.md), and the paired static-vs-dynamic verdict needs both generators."""
    return [d for d in specs if "main" in d.roles and d.mode != "none" and (ref or d.mode != "jpeg")]


# Attacks aimed at the dynamic bank itself (what a reviewer of the paper's central claim would try); opt-in.
DYNAMIC = select(("main",), exclude=("none", "jpeg", "static"))
for _g in (
    CellGroup("expected-bpda-pgd", "pgd", "adaptive", refs, DYNAMIC, view="expected", default=False),
    CellGroup("transfer-static-pgd", "pgd", "adaptive", refs, DYNAMIC, view="transfer-static", default=False),
    CellGroup("eot-strong-bpda-pgd", "pgd", "adaptive", refs, DEFENDED, needs=EOT, sample="costly", default=False),
    CellGroup("margin-bpda-pgd", "pgd", "adaptive", refs, DEFENDED, fixed=(("loss", "margin"),), default=False),
    # The strongest setting of the ImageNet convergence sweep (benchmarks/convergence.py), at `grid.margin_linf`.
    CellGroup("margin-eot-bpda-pgd", "pgd", "adaptive",
              lambda p: [("linf", b) for b in p.grid.margin_linf or (p.grid.ref_linf,)], generators_and_jpeg_at_ref,
              fixed=(("loss", "margin"),), needs=EOT, sample="costly", default=False),
):
    register_group(_g)


def legacy_defenses(specs: list[DefenseSpec], ref: bool) -> list[DefenseSpec]:
    """The legacy protocol's defenses (profiles `legacy*`): none, the main dynamic ones (the kit's full bank) and the
    legacy layouts (cnr.defenses.legacy)."""
    return [d for d in specs if d.mode == "none" or "legacy" in d.roles or (d.mode == "dynamic" and "main" in d.roles)]


def legacy_random(specs: list[DefenseSpec], ref: bool) -> list[DefenseSpec]:
    """The legacy protocol's random defenses (the only ones where k draws per question change anything) and the bare
    model, on which each such attack shows whether it is strong enough to say anything (cnr.legacy.mark_weak)."""
    return [d for d in legacy_defenses(specs, ref) if d.mode in ("dynamic", "none")]


def legacy_l2(p: Profile) -> list[tuple[str, float]]:
    """Every normalized L2 budget of the profile (Square runs once per budget)."""
    return [("l2", b) for b in p.grid.l2_budgets]


# The authors' black-box table: clean accuracy, HopSkipJump run once per image without a budget (its smallest
# adversarial serves every budget: cnr.analysis.budget_curve) and Square at each L2 budget; opt-in.
for _g in (
    CellGroup("legacy-clean", "clean", "clean", lambda p: [("linf", 0.0)], legacy_defenses, default=False),
    CellGroup("legacy-hsj", "hsj", "minimal", unbounded_l2, legacy_defenses, sample="blackbox", default=False),
    CellGroup("legacy-square", "square", "black-box", legacy_l2, legacy_defenses, sample="blackbox", default=False),
    # the white-box view at the same budgets (BPDA-PGD and EOT-BPDA-PGD; their per-image ensemble)
    CellGroup("legacy-bpda-pgd", "pgd", "adaptive", legacy_l2, legacy_defenses, default=False),
    CellGroup("legacy-eot-bpda-pgd", "pgd", "adaptive", legacy_l2, legacy_defenses, needs=EOT, sample="costly",
              default=False),
    # the same black-box attacks, accounting for the randomness: k draws per question and their majority (the same
    # per-image query budget unless the profile's entry raises it), Square's loss averaged over k draws, HopSkipJump
    # without its answer memory
    *(CellGroup(f"legacy-hsj-vote{k}{suffix}", "hsj", "minimal", unbounded_l2, legacy_random, fixed=(("draws", k),),
                sample="blackbox", default=False) for k in (3, 9) for suffix in ("", f"-x{k}")),
    CellGroup("legacy-hsj-fresh", "hsj", "minimal", unbounded_l2, legacy_random, fixed=(("answer_cache", False),),
              sample="blackbox", default=False),
    *(CellGroup(f"legacy-square-eot{k}{suffix}", "square", "black-box", legacy_l2, legacy_random,
                fixed=(("draws", k),), sample="blackbox", default=False) for k in (3, 9) for suffix in ("", f"-x{k}")),
):
    register_group(_g)

# Black-box attacks that account for a random defense (opt-in): k draws per question at the same per-image query
# budget as the plain attack (a profile's entry for the group can raise it), and HopSkipJump without its memory;
# and the paper's own white-box tool as it ran it (unbounded, through the whole defense as the identity backward).
HSJ_BUDGET: Budgets = lambda p: [("l2", p.grid.ref_l2)]  # noqa: E731
SQUARE_BUDGETS: Budgets = lambda p: [r for r in refs(p) if r[0] in p.grid.square_norms]  # noqa: E731
for _g in (
    *(CellGroup(f"hsj-vote{k}", "hsj", "black-box", HSJ_BUDGET, select(("main",)), fixed=(("draws", k),),
                sample="blackbox", default=False) for k in (3, 9)),
    CellGroup("deeprobust-bpda", "deeprobust_bpda", "minimal", unbounded_l2, select(("main",)), view="identity",
              sample="costly", default=False),
    CellGroup("hsj-fresh", "hsj", "black-box", HSJ_BUDGET, select(("main",)), fixed=(("answer_cache", False),),
              sample="blackbox", default=False),
    *(CellGroup(f"square-eot{k}", "square", "black-box", SQUARE_BUDGETS, select(("main",)), fixed=(("draws", k),),
                sample="blackbox", default=False) for k in (3, 9)),
):
    register_group(_g)

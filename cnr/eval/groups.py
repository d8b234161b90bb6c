"""The declarative grid: cell groups (attack, gradient view, sample, defenses, budgets, kind) in one registry.

A new attack appears in the grid, tables, figures and sanity checks with its `cnr.attacks` entry plus one
`register_group(CellGroup(...))` here (and its profile settings). `build_grid(profile)` expands every group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from cnr.defenses.registry import DefenseSpec, grid_defenses
from cnr.errors import InputError
from cnr.eval.specs import KINDS, SAMPLES, VIEWS, AttackSpec, Cell
from cnr.profiles import Profile

Budgets = Callable[[Profile], "list[tuple[str, float]]"]
Selector = Callable[["list[DefenseSpec]", bool], "list[DefenseSpec]"]
Params = Callable[[Profile], "tuple[tuple[str, object], ...]"]


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
    return [("linf", b) for b in p.linf_budgets] + [("l2", b) for b in p.l2_budgets]


def refs(p: Profile) -> list[tuple[str, float]]:
    return [("linf", p.ref_linf), ("l2", p.ref_l2)]


@dataclass(frozen=True)
class CellGroup:
    """One row family of the results table; its cells are (defense, budget) pairs of one attack setting."""

    label: str
    attack: str
    kind: str
    budgets: Budgets
    defenses: Selector
    params: Params = lambda p: ()
    view: str = "bpda"
    sample: str = "eval"
    ablation: bool = False
    default: bool = True  # False: only in profiles that name it in `groups` (the study's attacks)
    decisive: bool = False  # with the profile's `decisive_sweep`: every budget, every main and fixed-QF defense

    def cells(self, p: Profile, specs: list[DefenseSpec]) -> list[Cell]:
        ref = set(refs(p))
        sweeping = self.decisive and p.decisive_sweep  # adds cells to the group's own, never drops one
        mine = self.budgets(p)
        out = []
        for norm, b in dict.fromkeys(mine + (sweep(p) if sweeping else [])):
            spec = AttackSpec(self.label, self.attack, norm, b, view=self.view, sample=self.sample,
                              params=tuple(self.params(p)), kind=self.kind, ablation=self.ablation)
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
    """Every cell of the profile's grid, group by group in registration order (only `p.groups` when it names some)."""
    unknown = sorted(set(p.groups) - set(GROUPS))
    if unknown:
        raise InputError(f"profile {p.name!r} names unknown cell group(s) {', '.join(unknown)}; "
                         f"registered: {', '.join(GROUPS)}")
    specs = grid_defenses(p)
    chosen = [g for g in GROUPS.values() if (g.label in p.groups if p.groups else g.default)]
    return [c for g in chosen for c in g.cells(p, specs)]


ALL = ("main", "ablation")
DEFENDED = select(("main",), exclude=("none",))
unbounded_l2: Budgets = lambda p: [("l2", float("inf"))]  # noqa: E731
pgd: Params = lambda p: (("steps", p.pgd_steps),)  # noqa: E731
eot: Params = lambda p: (("eot", p.eot_samples), ("steps", p.eot_steps))  # noqa: E731

for _g in (
    CellGroup("clean", "clean", "clean", lambda p: [("linf", 0.0)], select(ALL)),
    CellGroup("bpda-pgd", "pgd", "adaptive", sweep, select(("main",), ("ablation",)), pgd, ablation=True,
              decisive=True),
    CellGroup("oblivious-pgd", "pgd", "white-box", sweep, DEFENDED, pgd, view="oblivious"),
    CellGroup("eot-bpda-pgd", "pgd", "adaptive", lambda p: sweep(p) if p.eot_sweep else refs(p),
              select(("main",), ("n-sweep",), ("none",), ("dynamic",)),
              eot, sample="costly", ablation=True, decisive=True),
    CellGroup("generalized-bpda-pgd", "pgd", "adaptive", refs, select(ALL, exclude=("none",)), pgd,
              view="identity", ablation=True, decisive=True),
    CellGroup("eot-diffjpeg-pgd", "pgd", "adaptive", refs, select(("main",), exclude=("none", "jpeg")), eot,
              view="surrogate", sample="costly"),
    CellGroup("deepfool", "deepfool", "minimal", unbounded_l2, select(("main",)),
              lambda p: (("steps", p.deepfool_steps), ("candidates", p.deepfool_candidates)), sample="costly"),
    CellGroup("cw", "cw", "minimal", unbounded_l2, select(("main",)),
              lambda p: (("binary_steps", p.cw_binary_steps), ("steps", p.cw_steps)), sample="costly"),
    CellGroup("square", "square", "black-box", lambda p: [r for r in refs(p) if r[0] in p.square_norms],
              select(("main",)), lambda p: (("n_queries", p.square_queries),), sample="blackbox"),
    CellGroup("nattack", "nattack", "black-box", lambda p: [("linf", p.ref_linf)], select(("main",)),
              lambda p: (("iterations", p.nattack_iters), ("population", p.nattack_pop)), sample="blackbox"),
    CellGroup("hsj", "hsj", "black-box", lambda p: [("l2", p.ref_l2)], select(("main",)),
              lambda p: (("steps", p.hsj_steps), ("initial_gradient_eval_steps", p.hsj_grad_evals),
                         ("init_steps", p.hsj_init_steps)), sample="blackbox"),
    CellGroup("autoattack-rand", "autoattack_rand", "adaptive", lambda p: [("linf", p.ref_linf)], select(("main",)),
              lambda p: (("eot_iter", p.aa_eot_iter), ("n_iter", p.aa_iters)), sample="costly", decisive=True),
):
    register_group(_g)

# Attacks aimed at the dynamic bank itself (what a reviewer of the paper's central claim would try); opt-in.
DYNAMIC = select(("main",), exclude=("none", "jpeg", "static"))
for _g in (
    CellGroup("expected-bpda-pgd", "pgd", "adaptive", refs, DYNAMIC, pgd, view="expected", default=False),
    CellGroup("transfer-static-pgd", "pgd", "adaptive", refs, DYNAMIC, pgd, view="transfer-static", default=False),
    CellGroup("eot-strong-bpda-pgd", "pgd", "adaptive", refs, DEFENDED,
              lambda p: (("eot", p.eot_samples_strong), ("steps", p.eot_steps)), sample="costly", default=False),
    CellGroup("margin-bpda-pgd", "pgd", "adaptive", refs, DEFENDED, lambda p: (("loss", "margin"),
                                                                               ("steps", p.pgd_steps)), default=False),
):
    register_group(_g)

"""A profile: small typed parts, one per subsystem, plus each attack's settings as a mapping over its defaults.

Settings are addressed by dotted paths (`bank.patch`, `attacks.pgd.steps`); `with_settings` returns a checked
copy. The names of the settings before the parts existed (`n_eval`, `argan_patch`, `pgd_steps`, ...) are read as
aliases of their paths for one release (`ALIASES`), so older commands and tables keep working.
"""
from __future__ import annotations

import ast
import copy
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from cnr.config.parts import SEED, BankTraining, ClassifierTraining, Compute, Data, Grid, Mechanism, Samples
from cnr.config.schema import Part, as_tuples, setting
from cnr.errors import InputError, unknown_name

AttackSettings = dict[str, dict[str, Any]]  # attack name or cell-group label -> parameters over the defaults


@dataclass(frozen=True)
class Profile(Part):
    """Every setting of a run, in parts; `cnr.run.resolve_run(name, overrides)` turns one into a Run."""

    name: str
    seed: int = setting(0, SEED)
    device: str = "cpu"
    notebooks: tuple[str, ...] = setting(("00", "01", "02", "03", "04"), unique=True)  # `cnr reproduce`'s; (): all
    data: Data = field(default_factory=Data)
    compute: Compute = field(default_factory=Compute)
    samples: Samples = field(default_factory=Samples)
    clf: ClassifierTraining = field(default_factory=ClassifierTraining)
    bank: BankTraining = field(default_factory=BankTraining)
    grid: Grid = field(default_factory=Grid)
    # each attack's effort: keys are attack names (cnr.attacks) or cell-group labels (cnr.cells.groups), a group's
    # entry merged over its attack's; both merged over the attack's registry defaults (checked by cnr.preflight)
    attacks: AttackSettings = field(default_factory=dict)
    mechanism: Mechanism = field(default_factory=Mechanism)

    def rule(self) -> str | None:
        for key, params in self.attacks.items():
            if not key or not isinstance(params, dict) or not all(isinstance(k, str) and k for k in params):
                return f"attacks[{key!r}] must map parameter names to values, got {params!r}"
        return None

    def sample_sizes(self) -> dict[str, int]:
        """Images per cell for each sample of the grid (cnr.cells.specs.SAMPLES): what an attack group runs on."""
        return self.samples.sizes()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, for metadata, worker processes and results rows."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        """The profile `to_dict` wrote (unknown parts or settings are the kit's error, not a TypeError)."""
        if not isinstance(d, dict):
            raise InputError(f"a profile is an object of settings, got {type(d).__name__}")
        top = {f.name: f for f in fields(cls)}
        stray = sorted(set(d) - set(top))
        if stray:
            raise unknown_name("profile setting", stray[0], sorted(top))
        kw: dict[str, Any] = {}
        for key, value in d.items():
            hint = typing.get_type_hints(cls)[key]
            if isinstance(hint, type) and issubclass(hint, Part):
                if not isinstance(value, dict):
                    raise InputError(f"profile part {key} is an object of settings, got {value!r}")
                names = {f.name for f in fields(hint)}
                bad = sorted(set(value) - names)
                if bad:
                    raise InputError(f"profile part {key}: {unknown_name('setting', bad[0], sorted(names))}")
                kw[key] = hint(**{k: as_tuples(v) for k, v in value.items()})
            else:
                kw[key] = as_tuples(value) if key != "attacks" else copy.deepcopy(value)
        return cls(**kw)


# the settings' names before the parts existed -> their paths (one release); some name several paths
EOT_GROUPS = ("eot-bpda-pgd", "eot-diffjpeg-pgd")
ALIASES: dict[str, tuple[str, ...]] = {
    "dataset": ("data.dataset",), "classifier": ("data.classifier",),
    "clf_epochs": ("clf.epochs",), "clf_batch": ("clf.batch",), "clf_train_limit": ("clf.train_limit",),
    "clf_eval_limit": ("clf.eval_limit",),
    "argan_preset": ("bank.preset",), "argan_preset_natural": ("bank.preset_natural",),
    "argan_natural_train": ("bank.natural_train",), "argan_qfs": ("bank.qfs",),
    "argan_pretrain_steps": ("bank.pretrain_steps",), "argan_gan_steps": ("bank.gan_steps",),
    "argan_pretrain_steps_by_qf": ("bank.pretrain_steps_by_qf",), "argan_batch": ("bank.batch",),
    "argan_patch": ("bank.patch",),
    "restoration_n": ("samples.restoration",), "n_eval": ("samples.eval",), "n_costly": ("samples.costly",),
    "n_blackbox": ("samples.blackbox",), "draws": ("samples.draws",),
    "grid_workers": ("grid.workers",), "qf_range": ("grid.qf_range",), "ns": ("grid.ns",),
    "sweep_ns": ("grid.sweep_ns",), "fixed_qf": ("grid.fixed_qf",), "linf_budgets": ("grid.linf_budgets",),
    "l2_budgets": ("grid.l2_budgets",), "ref_linf": ("grid.ref_linf",), "ref_l2": ("grid.ref_l2",),
    "groups": ("grid.groups",), "eot_sweep": ("grid.eot_sweep",), "decisive_sweep": ("grid.decisive_sweep",),
    "square_norms": ("grid.square_norms",),
    "mechanism_n": ("mechanism.n",), "mechanism_ns": ("mechanism.ns",), "mechanism_draws": ("mechanism.draws",),
    "mechanism_reference": ("mechanism.reference",),
    "pgd_steps": ("attacks.pgd.steps",),
    "eot_samples": tuple(f"attacks.{g}.eot" for g in EOT_GROUPS),
    "eot_steps": (*(f"attacks.{g}.steps" for g in EOT_GROUPS), "attacks.eot-strong-bpda-pgd.steps"),
    "eot_samples_strong": ("attacks.eot-strong-bpda-pgd.eot",),
    "cw_steps": ("attacks.cw.steps",), "cw_binary_steps": ("attacks.cw.binary_steps",),
    "deepfool_steps": ("attacks.deepfool.steps",), "deepfool_candidates": ("attacks.deepfool.candidates",),
    "square_queries": ("attacks.square.n_queries",), "nattack_iters": ("attacks.nattack.iterations",),
    "nattack_pop": ("attacks.nattack.population",), "hsj_steps": ("attacks.hsj.steps",),
    "hsj_grad_evals": ("attacks.hsj.initial_gradient_eval_steps",), "hsj_init_steps": ("attacks.hsj.init_steps",),
    "aa_iters": ("attacks.autoattack_rand.n_iter",), "aa_eot_iter": ("attacks.autoattack_rand.eot_iter",),
}


def setting_paths() -> list[str]:
    """Every settable path except inside `attacks` (whose keys are open): 'seed', 'bank.patch', ..."""
    out = []
    for f in fields(Profile):
        hint = typing.get_type_hints(Profile)[f.name]
        if isinstance(hint, type) and issubclass(hint, Part):
            out += [f"{f.name}.{g.name}" for g in fields(hint)]
        elif f.name not in ("name", "attacks"):
            out.append(f.name)
    return out


def canonical(key: str) -> tuple[str, ...]:
    """The path(s) a setting's name stands for: itself, or the paths an older name is an alias of."""
    if not isinstance(key, str) or not key.strip():
        raise InputError(f"a setting's name is a dotted path such as bank.patch, got {key!r}")
    key = key.strip()
    if key in ALIASES:
        return ALIASES[key]
    if key.startswith("attacks."):
        parts = key.split(".")
        if len(parts) != 3 or not all(parts):
            raise InputError(f"an attack setting is attacks.<attack or group>.<parameter>, got {key!r}")
        return (key,)
    if key in setting_paths():
        return (key,)
    raise unknown_name("profile setting", key, setting_paths() + ["attacks.<attack>.<parameter>"])


def canonical_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides by setting path (an older name becomes the path, or paths, it stands for)."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        for path in canonical(key):
            if path in out and out[path] != value:
                raise InputError(f"setting {path} is given twice with different values ({out[path]!r}, {value!r})")
            out[path] = value
    return out


def with_settings(profile: Profile, settings: dict[str, Any]) -> Profile:
    """A checked copy of the profile with settings replaced by path (`{'bank.patch': 64, 'attacks.pgd.steps': 9}`)."""
    if not isinstance(settings, Mapping):
        raise InputError(f"settings must be a mapping of setting path -> value (e.g. {{'samples.eval': 100}}), got "
                         f"{type(settings).__name__} {settings!r:.60}")
    parts: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    attacks = copy.deepcopy(profile.attacks)
    for key, value in settings.items():
        for path in canonical(key):
            head, _, rest = path.partition(".")
            if head == "attacks":
                attack, param = rest.split(".")
                attacks.setdefault(attack, {})[param] = as_tuples(value)
            elif rest:
                parts.setdefault(head, {})[rest] = as_tuples(value)
            else:
                top[head] = as_tuples(value)
    for head, values in parts.items():
        try:
            top[head] = replace(getattr(profile, head), **values)
        except TypeError as e:  # a field the part lacks: canonical() lets none through, but say it plainly
            raise InputError(f"profile part {head}: {e}") from None
    return replace(profile, **top, attacks=attacks)


def parse_override(item: str) -> tuple[str, Any]:
    """'samples.eval=100' -> ('samples.eval', 100): the value is a Python literal (a bare word is text)."""
    if not isinstance(item, str) or "=" not in item:
        raise InputError(f"--set takes path=value (e.g. samples.eval=100 or attacks.pgd.steps=40), got {item!r}")
    key, text = (t.strip() for t in item.split("=", 1))
    canonical(key)
    try:
        value = as_tuples(ast.literal_eval(text))
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        value = text
    return key, value

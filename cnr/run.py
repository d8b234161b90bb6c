"""A run, resolved once at the CLI/notebook boundary: profile + overrides + seed + device, with every path it needs."""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnr.checks import resolve_device
from cnr.config import PROFILES, Profile, as_tuples, canonical_overrides, get_profile, with_settings
from cnr.errors import InputError
from cnr.parsing import parse_bool
from cnr.paths import RESULTS_DIR, WEIGHTS_DIR, env_folder
from cnr.preflight import preflight

SHIPPED_CLASSIFIER_WEIGHTS = {"fmnist-cnn": "fmnist-cnn.safetensors"}  # the zoo's others come from packages


@dataclass(frozen=True)
class Run:
    """Everything below the boundary receives this object, never a profile name; it serializes for workers."""

    profile: Profile
    overrides: tuple[tuple[str, Any], ...] = ()
    device: str = "cpu"
    retrain: bool = False  # models from this run's own folder (trained by notebooks 01/02) instead of weights/
    results_root: str = str(RESULTS_DIR)

    @property
    def seed(self) -> int:
        return self.profile.seed

    @property
    def name(self) -> str:
        """The results folder's name: the profile's, plus the overrides when there are any (the seed among them when
        it is not the profile's own), so runs of another seed or setting never share a folder."""
        shown = [(k, v) for k, v in self.overrides if k != "seed" or v != PROFILES[self.profile.name].seed]
        if not shown:
            return self.profile.name
        text = ",".join(f"{k}={_compact(v)}" for k, v in shown)
        text = re.sub(r"[^A-Za-z0-9_.,=+-]", "", text)
        if len(text) > 60:
            text = hashlib.sha256(text.encode()).hexdigest()[:10]
        return f"{self.profile.name}+{text}"

    # --- outputs ---------------------------------------------------------------------------------
    @property
    def out_dir(self) -> Path:
        return Path(self.results_root) / self.name

    @property
    def tables_dir(self) -> Path:
        return self.out_dir / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.out_dir / "figures"

    @property
    def mechanism_dir(self) -> Path:
        return self.out_dir / "mechanism"

    @property
    def notebooks_dir(self) -> Path:
        return self.out_dir / "notebooks"

    @property
    def models_dir(self) -> Path:
        """Where this run's retrained weights go (never the shipped cnr/shipped/)."""
        return self.out_dir / "models"

    @property
    def robustness_csv(self) -> Path:
        return self.tables_dir / "robustness.csv"

    @property
    def restoration_csv(self) -> Path:
        return self.tables_dir / "restoration.csv"

    def record_path(self, notebook: str) -> Path:
        """results/<run>/notebooks/<notebook>.json: the numbers a notebook recorded."""
        return self.notebooks_dir / f"{Path(notebook).stem}.json"

    # --- inputs ------------------------------------------------------------------------------------
    def bank_preset(self, family: str) -> str:
        """The generator preset of a bank family ('fmnist' gray, 'natural' RGB) in this profile."""
        return self.profile.bank.preset_natural if family == "natural" else self.profile.bank.preset

    def bank_dir(self, family: str) -> Path:
        """The AR-GAN bank of a family: cnr/shipped/argan-<family>-<preset>, or this run's models/ when retraining."""
        from cnr.data.registry import BANK_FAMILIES

        if family not in BANK_FAMILIES:
            shipped = ", ".join(sorted(p.name for p in WEIGHTS_DIR.glob("argan-*") if p.is_dir()))
            raise InputError(f"unknown bank family {family!r}; families: 'fmnist' (gray Fashion-MNIST) and 'natural' "
                             f"(RGB photos); shipped banks: {shipped or 'none'}")
        root = self.models_dir if self.retrain else WEIGHTS_DIR
        return root / f"argan-{family}-{self.bank_preset(family)}"

    def classifier_weights(self, name: str | None = None) -> Path | None:
        """Weights file of a kit-trained classifier (None for those loaded from packages or torchvision)."""
        name = name or self.profile.data.classifier
        if name not in SHIPPED_CLASSIFIER_WEIGHTS:
            return None
        return (self.models_dir if self.retrain else WEIGHTS_DIR) / SHIPPED_CLASSIFIER_WEIGHTS[name]

    # --- serialization ---------------------------------------------------------------------------
    def to_json(self) -> str:
        """The whole run, so that a worker process receives it with its overrides (not rebuilt from a name)."""
        return json.dumps(dict(profile=self.profile.to_dict(), overrides=[list(o) for o in self.overrides],
                               device=self.device, retrain=self.retrain, results_root=self.results_root))

    @classmethod
    def from_json(cls, text: str) -> Run:
        """The run a worker receives (to_json's text), checked like one resolved from a profile name."""
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, RecursionError, TypeError) as e:
            raise InputError(f"a run's JSON is not valid JSON ({e}); it is written by Run.to_json") from None
        keys = ("profile", "overrides", "device", "retrain", "results_root")
        if not isinstance(d, dict) or not all(k in d for k in keys) or not isinstance(d["profile"], dict):
            raise InputError(f"a run's JSON must be an object with {', '.join(keys)} (profile an object), as "
                             f"Run.to_json writes; got {type(d).__name__} {str(d)[:80]}")
        name = d["profile"].get("name")
        if not isinstance(name, str) or name not in PROFILES:
            raise InputError(f"a run's JSON names an unknown profile {name!r}")
        if not isinstance(d["overrides"], list) or not all(isinstance(o, list) and len(o) == 2 and isinstance(o[0], str)
                                                           for o in d["overrides"]):
            raise InputError(f"a run's JSON overrides must be [field, value] pairs, got {str(d['overrides'])[:80]}")
        profile = preflight(Profile.from_dict(d["profile"]))
        over = canonical_overrides(dict((k, as_tuples(v)) for k, v in d["overrides"]))
        if with_settings(PROFILES[profile.name], over) != profile:
            raise InputError(f"a run's JSON holds a profile that its overrides do not make from profile "
                             f"{profile.name!r}; write it with Run.to_json")
        return cls(profile, tuple(sorted(over.items())),
                   str(resolve_device(d["device"])), parse_bool(d["retrain"], "retrain"),
                   str(_results_root(d["results_root"])))

    def cli_options(self) -> str:
        """' --set path=value ... --seed s': the command-line options that rebuild this run's profile."""
        return "".join(f" --set {k}={_literal(v)}" for k, v in self.overrides if k != "seed") + (
            f" --seed {self.seed}" if self.seed != PROFILES[self.profile.name].seed else "")

    def describe(self) -> dict[str, Any]:
        """What a results row or record carries about its run."""
        shown = {k: v for k, v in self.overrides if k != "seed"}  # the seed is a key column of its own
        return dict(profile=self.profile.name, overrides=json.dumps(shown, sort_keys=True))


def resolve_run(profile: str = "quick", overrides: dict[str, Any] | None = None, seed: int | None = None,
                device: str | None = None, retrain: bool = False, results_root: str | Path | None = None) -> Run:
    """Turn (profile name + overrides + seed + device) into a Run; the only place a profile name is resolved."""
    if isinstance(profile, Profile):
        raise InputError("resolve_run takes a profile name; pass overrides for its fields")
    if overrides is not None and not isinstance(overrides, dict):
        raise InputError(f"overrides must be a dict of profile settings by path, e.g. {{'samples.eval': 100}}; got "
                         f"{type(overrides).__name__} {overrides!r}")
    over = canonical_overrides({k: as_tuples(v) for k, v in (overrides or {}).items()})  # JSON lists as tuples
    if seed is not None:
        if "seed" in over and over["seed"] != seed:
            raise InputError(f"the seed is given twice, {over['seed']!r} in the overrides and {seed!r}; give it once")
        over["seed"] = seed
    p = preflight(get_profile(profile, **over))
    dev = str(resolve_device(p.device if device is None else device))
    root = _results_root(results_root)
    return Run(p, tuple(sorted(over.items())), dev, parse_bool(retrain, "retrain"), str(root))


def _results_root(results_root: Any) -> Path:
    """The folder results go under: the argument, else $CNR_RESULTS (e.g. a scratch folder), else results/."""
    if results_root is None:
        return env_folder("CNR_RESULTS", Path(RESULTS_DIR))
    if isinstance(results_root, bool) or not isinstance(results_root, (str, os.PathLike)):
        raise InputError(f"results_root must be a folder path (str or Path), got {type(results_root).__name__} "
                         f"{results_root!r}")
    if not str(results_root).strip():
        raise InputError("results_root is empty; give a folder path (or None for results/)")
    root = Path(results_root).expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(f"results_root {root} is a file, not a folder; point it at a folder")
    return root


def with_overrides(run: Run, **overrides: Any) -> Run:
    """The same run with more fields overridden (what the notebooks' `overrides` parameter does)."""
    new = canonical_overrides({k: as_tuples(v) for k, v in overrides.items()})
    over = {**dict(run.overrides), **new}
    return replace(run, profile=preflight(with_settings(run.profile, new)), overrides=tuple(sorted(over.items())))


def profile_names() -> list[str]:
    return list(PROFILES)


def _literal(v: Any) -> str:
    text = repr(v)
    return f'"{text}"' if " " in text else text


def _compact(v: Any) -> str:
    return "-".join(map(str, v)) if isinstance(v, tuple) else str(v)

"""Training from a resolved run: the AR-GAN banks (train, load, retrain, the CLI's train-argan) and the classifier.

`cnr train-argan --dataset fmnist --qf 10|...|static|all` maps to `train_argan_cli`. A bank is
trained file by file; a finished file whose metadata matches is skipped, an unfinished one resumes from its
checkpoint, so an interrupted `--qf all` picks up where it stopped.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cnr.argan.bank import STATIC, RestorerBank, qf_filename
from cnr.argan.recipe import same_training, training_recipe
from cnr.argan.sources import default_channels
from cnr.argan.train import train_argan
from cnr.config import Profile
from cnr.config.training import TrainSettings
from cnr.errors import InputError
from cnr.run import Run
from cnr.weights import read_metadata


def train_command(dataset: str, qf: int | str, run: Run, preset: str | None = None) -> str:
    """The CLI line that (re)creates one bank file, recorded in metadata and error hints."""
    extra = f" --preset {preset}" if preset else ""
    return f"cnr train-argan --dataset {dataset} --qf {qf} --profile {run.profile.name}{run.cli_options()}{extra}"


def _settings(p: Profile, dataset: str, preset: str | None, qf: int | str | None = None) -> dict[str, Any]:
    """train_argan's keyword arguments for one bank file; the natural bank's `argan_natural_train` entries win,
    including its own `pretrain_steps_by_qf` (the profile-wide one is Fashion-MNIST's)."""
    extra = dict(p.bank.natural_train) if dataset == "natural" else {}
    extra.pop("warm_start", None)
    by_qf = dict(extra.pop("pretrain_steps_by_qf", p.bank.pretrain_steps_by_qf))
    steps = by_qf.get(qf, extra.pop("pretrain_steps", p.bank.pretrain_steps))
    extra.pop("pretrain_steps", None)
    default = p.bank.preset_natural if dataset == "natural" else p.bank.preset
    s = dict(dataset=dataset, preset=preset or default, in_channels=default_channels(dataset),
             pretrain_steps=steps, gan_steps=p.bank.gan_steps, batch=p.bank.batch,
             patch=p.bank.patch if dataset != "fmnist" else min(p.bank.patch, 28), seed=p.seed)
    return {**s, **extra}


def warm_start(p: Profile, dataset: str) -> bool:
    """Whether the bank's per-QF generators start from its finished static generator (trained first)."""
    return dataset == "natural" and bool(dict(p.bank.natural_train).get("warm_start", False))


def _is_done(path: Path, qf: int | str, s: dict[str, Any]) -> bool:
    """A finished weights file of the very training these settings ask for (then training is skipped)."""
    return path.is_file() and same_training(read_metadata(path), training_recipe(qf, TrainSettings.from_kwargs(s)))


def bank_plan(p: Profile, dataset: str, out_dir: Path, preset: str | None = None,
              qfs: tuple[int, ...] | None = None, static: bool = True,
              **overrides: Any) -> list[tuple[int | str, Path, dict[str, Any]]]:
    """The bank's files in training order, each with its QF and train_argan's settings (the static first when the
    per-QF generators start from it)."""
    warm = warm_start(p, dataset)
    if warm and not static:
        raise InputError("this profile warm-starts the per-QF generators from the static one: train it too")
    per_qf = list(qfs or p.bank.qfs)
    targets: list[int | str] = [STATIC, *per_qf] if warm else [*per_qf, *([STATIC] if static else [])]
    plan = []
    for qf in targets:
        s = {**_settings(p, dataset, preset, qf), **overrides}
        if warm and qf != STATIC:
            s["init_from"] = out_dir / qf_filename(STATIC)
        plan.append((qf, out_dir / qf_filename(qf), s))
    return plan


def _trained_bank_dir(run: Run, dataset: str, preset: str | None) -> Path:
    """Where a bank trained without an explicit folder goes: the run's models/, named by dataset and preset."""
    return run.models_dir / f"argan-{dataset}-{preset or run.bank_preset(dataset)}"


def train_bank(run: Run, dataset: str = "fmnist", out_dir: str | Path | None = None, preset: str | None = None,
               qfs: tuple[int, ...] | None = None, static: bool = True, progress: bool = True,
               **overrides: Any) -> RestorerBank:
    """Train (or finish, or skip) every per-QF generator and the static one; default folder: the run's models/."""
    out_dir = Path(out_dir) if out_dir is not None else _trained_bank_dir(run, dataset, preset)
    plan = bank_plan(run.profile, dataset, out_dir, preset, qfs, static, **overrides)
    t0 = time.perf_counter()
    for i, (qf, path, s) in enumerate(plan):
        if _is_done(path, qf, s):
            print(f"[{i + 1}/{len(plan)}] {path} is up to date")
            continue
        print(f"[{i + 1}/{len(plan)}] training {path} ({time.perf_counter() - t0:.0f} s so far)")
        train_argan(qf, out_path=path, device=run.device, progress=progress,
                    command=train_command(dataset, qf, run, preset), **s)
    return RestorerBank.load(out_dir, dataset=dataset, in_channels=default_channels(dataset),
                             regenerate=train_command(dataset, "all", run, preset), qfs=qfs or run.profile.bank.qfs,
                             allow_missing=qfs is not None)  # a subset asked for: the rest of the set is named


def train_argan_cli(run: Run, dataset: str = "fmnist", qf: str = "all", preset: str | None = None,
                    out: str | None = None, steps: int | None = None, gan_steps: int | None = None
                    ) -> dict[str, Any]:
    """The `cnr train-argan` subcommand: one QF, 'static', or 'all' into the bank folder `out`; val summary per file."""
    overrides = {k: v for k, v in (("pretrain_steps", steps), ("gan_steps", gan_steps)) if v is not None}
    if qf == "all":
        bank = train_bank(run, dataset, out_dir=out, preset=preset, **overrides)
        return {q: getattr(g, "meta", {}).get("val") for q, g in zip(bank.qfs, bank.generators.values())} | (
            {STATIC: bank.static.meta.get("val")} if bank.has_static else {})
    if qf != STATIC and not qf.isdigit():
        raise InputError(f"--qf must be a quality factor (e.g. 10), 'static' or 'all'; got {qf!r}")
    label: int | str = qf if qf == STATIC else int(qf)
    path = (Path(out) if out else _trained_bank_dir(run, dataset, preset)) / qf_filename(label)
    s = {**_settings(run.profile, dataset, preset, label), **overrides}
    if warm_start(run.profile, dataset) and label != STATIC:
        s["init_from"] = path.parent / qf_filename(STATIC)
        if not s["init_from"].is_file():
            raise InputError(f"{s['init_from']} is missing: this profile fine-tunes every per-QF generator from the "
                             f"static one; train it first: {train_command(dataset, STATIC, run, preset)}")
    if _is_done(path, label, s):  # as in train_bank: a finished file with these settings is never retrained
        print(f"{path} is up to date")
    else:
        train_argan(label, out_path=path, device=run.device, command=train_command(dataset, qf, run, preset), **s)
    return {label: read_metadata(path).get("val")}


def load_bank(run: Run, family: str) -> RestorerBank:
    """The run's bank of a family ('fmnist' or 'natural'), holding every QF of the profile's bank (checked), with the
    command that regenerates it in any error."""
    folder = run.bank_dir(family)
    hint = f"cnr train-argan --dataset {family} --qf all --profile {run.profile.name} --out {folder}"
    return RestorerBank.load(folder, device=run.device, dataset=family, regenerate=hint, qfs=run.profile.bank.qfs)


def retrain_banks(run: Run, families: tuple[str, ...] = ("fmnist", "natural")) -> list[Path]:
    """Train the run's banks into its own models folder (resumable; up-to-date files are skipped)."""
    for family in families:
        train_bank(run, family)
    return [run.models_dir / run.bank_dir(f).name for f in families]


def retrain_classifier(run: Run) -> Path:
    """Train fmnist-cnn with the run's settings into its own models folder (what `retrain` notebooks evaluate)."""
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    out = run.models_dir / "fmnist-cnn.safetensors"  # never the shipped file, whatever the run's `retrain`
    p = run.profile
    train_fmnist_cnn(out, epochs=p.clf.epochs, batch_size=p.clf.batch, seed=p.seed, train_limit=p.clf.train_limit,
                     eval_limit=p.clf.eval_limit, device=run.device,
                     command=f"cnr train-classifier --profile {p.name} --seed {p.seed} --out {out}")
    return out

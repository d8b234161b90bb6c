"""The settings of one AR-GAN training, with their defaults and ranges: plain data that imports no torch.

`TRAIN_LIMITS` is the one declaration of the allowed values (a profile that sets some of them checks them
against it); `TrainSettings` is what `train_argan` reads, by name, once checked.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cnr.errors import InputError, unknown_name
from cnr.parsing import FLAG, Limit, choice_limit, count_limit, number_limit, parse_seed

PATCH = count_limit(4, 4096)  # px of a square training crop: no photo the kit trains on is larger

TRAIN_LIMITS: dict[str, Limit] = dict(
    in_channels=Limit("int", lo=1, optional=True), pretrain_steps=count_limit(0), gan_steps=count_limit(0),
    batch=count_limit(), patch=PATCH, lr=number_limit(0, lo_open=True), pixel=choice_limit("l1", "l2"),
    ssim_weight=number_limit(0), perceptual_weight=number_limit(0), adv_weight=number_limit(0),
    ckpt_every=count_limit(), val_every=count_limit(), n_val=count_limit(),
    stop_after=Limit("int", lo=1, optional=True), progress=FLAG, amp=FLAG)


@dataclass(frozen=True)
class TrainSettings:
    """Every train_argan argument but the QF and where it runs; checked on construction, read by name."""

    dataset: str = "fmnist"  # 'fmnist' or 'natural' (cnr.argan.sources)
    preset: str = "quick"  # generator preset (cnr.argan.generator.PRESETS)
    in_channels: int | None = None  # None: the dataset's own
    pretrain_steps: int = 1500  # pixel (+ SSIM) steps
    gan_steps: int = 500  # then adversarial (+ perceptual) steps
    batch: int = 32
    patch: int = 28
    seed: int = 0
    lr: float = 1e-3
    pixel: str = "l1"
    ssim_weight: float = 0.5
    perceptual: Any = "auto"  # a classifier name, a network with features(x), None, or 'auto' (the dataset's)
    perceptual_weight: float = 0.1
    adv_weight: float = 1e-3
    init_from: str | Path | None = None  # a finished generator to start from (warm start)
    # how the run is carried out; none of these changes the weights
    ckpt_every: int = 250
    val_every: int = 500
    n_val: int = 512
    stop_after: int | None = None  # end this call after that many steps, leaving the checkpoint
    progress: bool = True
    amp: bool = True

    def __post_init__(self) -> None:
        for name, limit in TRAIN_LIMITS.items():
            value = limit.check(getattr(self, name), f"train_argan argument {name!r}")
            # plain Python numbers, so that they round-trip through the JSON metadata (numpy ints do not)
            if value is not None and limit.kind == "int":
                value = int(value)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "seed", parse_seed(self.seed, "seed"))
        if self.pretrain_steps + self.gan_steps < 1:
            raise InputError("train_argan needs at least one step: pretrain_steps + gan_steps is 0")

    @classmethod
    def from_kwargs(cls, values: Mapping[str, Any]) -> TrainSettings:
        """Settings from keyword arguments, an unknown name refused with the valid ones."""
        names = {f.name for f in fields(cls)}
        for key in values:
            if key not in names:
                raise unknown_name("train_argan argument", key, names)
        return cls(**values)

    @property
    def steps(self) -> int:
        """Pre-training plus GAN steps."""
        return self.pretrain_steps + self.gan_steps

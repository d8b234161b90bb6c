"""AR-GAN artifact removal: generator, discriminator, losses, training loop, and the per-QF bank.

Typical use: `bank = RestorerBank.load(run.bank_dir("fmnist"))`, then `bank.restore(jpeg, qf)`;
train with `train_argan(...)`, or a whole bank from a run with `cnr.training.train_bank(run, "fmnist")`.
Every name is imported on first use, so that importing one piece does not load the others.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "STATIC": "cnr.argan.bank", "RestorerBank": "cnr.argan.bank", "load_generator": "cnr.argan.bank",
    "qf_filename": "cnr.argan.bank", "PatchDiscriminator": "cnr.argan.discriminator",
    "PRESETS": "cnr.argan.generator", "Generator": "cnr.argan.generator", "build_generator": "cnr.argan.generator",
    "psnr": "cnr.argan.losses", "ssim": "cnr.argan.losses",
    "train_argan": "cnr.argan.train", "evaluate_restoration": "cnr.argan.train",
    "TrainSettings": "cnr.config.training", "same_training": "cnr.argan.recipe",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnr.argan' has no attribute {name!r}")


__all__ = list(_EXPORTS)

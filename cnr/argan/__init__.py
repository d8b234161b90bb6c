"""AR-GAN artifact removal: generator, discriminator, losses, training loop, and the per-QF bank.

Typical use: `bank = RestorerBank.load(run.bank_dir("fmnist"))`, then `bank.restore(jpeg, qf)`;
train with `train_argan(...)` or a whole bank with `train_bank(run, "fmnist")`.
"""
from cnr.argan.bank import STATIC, RestorerBank, load_generator, qf_filename
from cnr.argan.discriminator import PatchDiscriminator
from cnr.argan.generator import PRESETS, Generator, build_generator
from cnr.argan.losses import psnr, ssim

_LAZY = {  # training pulls in tqdm, the codec and the datasets: import only when asked
    "train_argan": "cnr.argan.train", "evaluate_restoration": "cnr.argan.train",
    "train_bank": "cnr.argan.pipeline", "train_argan_cli": "cnr.argan.pipeline",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnr.argan' has no attribute {name!r}")


__all__ = ["STATIC", "PRESETS", "Generator", "PatchDiscriminator", "RestorerBank", "build_generator",
           "load_generator", "qf_filename", "psnr", "ssim", *_LAZY]

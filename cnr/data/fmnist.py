"""Fashion-MNIST: the Debian package's idx files, the repo's data/ folder, or torchvision's download."""
from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from cnr.errors import DataNotFoundError, InputError
from cnr.paths import data_dir

FMNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FMNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def fmnist_dirs() -> list[Path]:
    """The places searched for the idx files, in order (Debian package, then the repo's data/)."""
    data = data_dir()
    return [FMNIST_SYSTEM_DIR, data / "fashion-mnist", data / "fashion-mnist" / "FashionMNIST" / "raw"]


def find_fmnist(download: bool = True) -> Path:
    """Return the folder holding the four Fashion-MNIST idx files, downloading with torchvision if allowed."""
    names = [n for pair in _FMNIST_FILES.values() for n in pair]
    for d in fmnist_dirs():
        if all((d / n).is_file() for n in names):
            return d
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(data_dir() / "fashion-mnist"), train=True, download=True)
            FashionMNIST(str(data_dir() / "fashion-mnist"), train=False, download=True)
            d = data_dir() / "fashion-mnist" / "FashionMNIST" / "raw"
            if all((d / n).is_file() for n in names):
                return d
        except Exception as e:  # no network, or the mirror moved
            reason = f" (download failed: {type(e).__name__}: {e})"
        else:
            reason = ""
    else:
        reason = " (download disabled)"
    raise DataNotFoundError(
        "Fashion-MNIST not found" + reason + ". Get it one of three ways: "
        f"(1) `sudo apt-get install dataset-fashion-mnist` (files in {FMNIST_SYSTEM_DIR}); "
        f"(2) put the four *-ubyte.gz files in {data_dir() / 'fashion-mnist'}; "
        "(3) run once with internet so that torchvision downloads them."
    )


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise DataNotFoundError(f"{path} is not an idx ubyte file (magic {magic:#x})")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataNotFoundError(f"{path} is truncated: {data.size} bytes for shape {dims}")
    return data.reshape(dims)


@lru_cache(maxsize=4)
def _fmnist_uint8(split: str, folder: str) -> tuple[np.ndarray, np.ndarray]:
    img_name, lbl_name = _FMNIST_FILES[split]
    return _read_idx(Path(folder) / img_name), _read_idx(Path(folder) / lbl_name)


def load_fmnist(
    split: str = "test", limit: int | None = None, download: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as (N,1,28,28) float in [0,1] and int64 labels; `limit` keeps the first images."""
    if split not in _FMNIST_FILES:
        raise InputError(f"unknown Fashion-MNIST split {split!r}; valid: train, test")
    images, labels = _fmnist_uint8(split, str(find_fmnist(download)))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.copy()).unsqueeze(1).float().div_(255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------------------------------------
# Natural photos (RGB AR-GAN training patches, visual demos), all shipped inside installed packages
# ---------------------------------------------------------------------------------------------
# Sizes (H x W): astronaut 512x512, coffee 400x600, chelsea 300x451, rocket 427x640,

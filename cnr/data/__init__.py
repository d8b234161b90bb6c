"""Datasets the kit evaluates and trains on, all as float [0,1] NCHW tensors with int64 labels; `load_dataset` by name."""
from __future__ import annotations

import os

import torch

from cnr.data.fmnist import FMNIST_CLASSES, find_fmnist, load_fmnist
from cnr.data.foolbox_samples import FOOLBOX_DATASETS, class_names, foolbox_data_dir, load_foolbox_samples
from cnr.data.imagenet import IMAGENET_INTERPOLATIONS, ImageNetVal, imagenet_transform, imagenet_val_dir
from cnr.data.photos import NATURAL_PHOTOS, natural_photos
from cnr.errors import InputError, unknown_name
from cnr.parsing import check_int

__all__ = ["DATASETS", "DATASET_SIZES", "check_sample_size", "BANK_FAMILY", "FMNIST_CLASSES", "FOOLBOX_DATASETS",
           "ImageNetVal", "NATURAL_PHOTOS", "class_names", "find_fmnist", "foolbox_data_dir", "imagenet_transform",
           "imagenet_val_dir", "load_dataset", "load_fmnist", "load_foolbox_samples", "natural_photos"]

DATASETS: dict[str, str] = {
    "fmnist": "Fashion-MNIST test split (10,000 x 1x28x28)",
    "fmnist-train": "Fashion-MNIST training split (60,000 x 1x28x28)",
    "foolbox-cifar10": "Foolbox's 20 CIFAR-10 test images (3x32x32)",
    "foolbox-cifar100": "Foolbox's 20 CIFAR-100 test images (3x32x32)",
    "foolbox-imagenet": "Foolbox's 20 ImageNet-val images (3x224x224 after resize 256 + center crop)",
    "foolbox-mnist": "Foolbox's 20 MNIST test images (1x28x28)",
    "foolbox-fmnist": "Foolbox's 20 Fashion-MNIST test images (1x28x28)",
    "imagenet-val": "ImageNet-val from $CNR_IMAGENET or data/imagenet/val (3x224x224; labels $CNR_IMAGENET_LABELS)",
}
# How many images a dataset holds where that is fixed (ImageNet folders vary): a count above it is refused up front.
DATASET_SIZES: dict[str, int] = {"fmnist": 10_000, "fmnist-train": 60_000, **{name: 20 for name in DATASETS
                                                                               if name.startswith("foolbox-")}}


def check_sample_size(dataset: str, n: int, what: str) -> int:
    """`n` images of `dataset`, refused (not silently cut) when the dataset holds fewer."""
    have = DATASET_SIZES.get(dataset)
    if have is not None and n > have:
        raise InputError(f"{what} {n} is more than the {have:,} images of {dataset}; pass at most {have}")
    return n


# Which AR-GAN bank family restores a dataset's images: gray Fashion-MNIST or natural RGB photos.
BANK_FAMILY: dict[str, str] = {"fmnist": "fmnist", "fmnist-train": "fmnist", "foolbox-fmnist": "fmnist",
                               "foolbox-mnist": "fmnist", "imagenet": "natural", "imagenet-val": "natural",
                               "foolbox-imagenet": "natural", "foolbox-cifar10": "natural",
                               "foolbox-cifar100": "natural", "imagenet-cpu": "natural"}
_FOOLBOX_NAMES = {"foolbox-cifar10": "cifar10", "foolbox-cifar100": "cifar100", "foolbox-imagenet": "imagenet",
                  "foolbox-mnist": "mnist", "foolbox-fmnist": "fashionMNIST"}


def load_dataset(name: str, limit: int | None = None, interpolation: str = "bilinear"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A registry dataset as (float [0,1] NCHW images, int64 labels); `limit` keeps the first images.

    `interpolation` is the resize filter of the ImageNet datasets (imagenet_transform); others ignore it.

    `imagenet-val` loads images into memory (50,000 at 224 px are 30 GB): pass a limit, or use
    ImageNetVal with cnr.eval.protocol.select_protocol_images for the paper's 1,000-image protocol.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise unknown_name("dataset", str(name), DATASETS)
    limit = check_int(limit, "limit", 1, optional=True)
    if not isinstance(interpolation, str) or interpolation not in IMAGENET_INTERPOLATIONS:
        # checked for every dataset, so a typo fails here even where this dataset would not resize
        raise unknown_name("interpolation", str(interpolation), IMAGENET_INTERPOLATIONS)
    if name in ("fmnist", "fmnist-train"):
        return load_fmnist("train" if name == "fmnist-train" else "test", limit=limit)
    if name in _FOOLBOX_NAMES:
        x, y, _ = load_foolbox_samples(_FOOLBOX_NAMES[name], interpolation=interpolation)
        return x[:limit], y[:limit]
    ds = ImageNetVal(imagenet_val_dir(), labels_file=os.environ.get("CNR_IMAGENET_LABELS"), interpolation=interpolation)
    idx = range(len(ds) if limit is None else min(limit, len(ds)))
    items = [ds[i] for i in idx]
    return torch.stack([im for im, _ in items]), torch.tensor([c for _, c in items], dtype=torch.int64)

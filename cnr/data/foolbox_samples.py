"""Foolbox 3.3.4's labelled samples (20 real test images per dataset, held out of all training) and class names."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnr.data.fmnist import FMNIST_CLASSES
from cnr.data.imagenet import imagenet_transform
from cnr.errors import DataNotFoundError, unknown_name

# ---------------------------------------------------------------------------------------------
# Sizes found: cifar10, cifar100 32x32 RGB PNG; mnist, fashionMNIST 28x28 gray PNG; imagenet RGB JPEG,
# 19 of them 512x512 and imagenet_10_541.jpg 1024x683 (W x H), so ImageNet samples go through the
# ImageNet-val transform (shorter side 256, center crop 224) to stack.
FOOLBOX_DATASETS = ("cifar10", "cifar100", "imagenet", "mnist", "fashionMNIST")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (  # the fine labels, in their standard (alphabetical) order
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names in torchvision's index order (shipped in torchvision, offline)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def class_names(dataset: str) -> list[str]:
    """Class names of a Foolbox sample dataset, index = label."""
    table = {"cifar10": CIFAR10_CLASSES, "cifar100": CIFAR100_CLASSES, "mnist": MNIST_CLASSES,
             "fashionMNIST": FMNIST_CLASSES}
    if dataset == "imagenet":
        return imagenet_classes()
    if dataset not in table:
        raise unknown_name("Foolbox dataset", dataset, FOOLBOX_DATASETS)
    return list(table[dataset])


def foolbox_data_dir() -> Path:
    """foolbox/data/ of the installed foolbox, found without importing it (import needs git or an env var)."""
    import importlib.util

    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError("foolbox is not installed; its sample images come with `pip install foolbox==3.3.4`")
    d = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not d.is_dir():
        raise DataNotFoundError(f"{d} is missing; reinstall foolbox==3.3.4")
    return d


def foolbox_sample_files(dataset: str) -> list[tuple[Path, int]]:
    """(file, label) of a Foolbox sample dataset, sorted by the index in the file name."""
    if dataset not in FOOLBOX_DATASETS:
        raise unknown_name("Foolbox dataset", dataset, FOOLBOX_DATASETS)
    rows = []
    for p in foolbox_data_dir().iterdir():
        parts = p.stem.split("_")
        if len(parts) == 3 and parts[0] == dataset and p.suffix.lower() in (".png", ".jpg"):
            rows.append((int(parts[1]), p, int(parts[2])))
    if not rows:
        raise DataNotFoundError(f"no {dataset} samples in {foolbox_data_dir()}; reinstall foolbox==3.3.4")
    return [(p, label) for _, p, label in sorted(rows)]


def load_foolbox_samples(dataset: str, size: int = 224, interpolation: str = "bilinear"
                         ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Foolbox's 20 labelled samples as float [0,1] NCHW, int64 labels and the class names.

    CIFAR are (20,3,32,32), MNIST and Fashion-MNIST (20,1,28,28); ImageNet goes through the ImageNet-val
    transform to (20,3,size,size), resizing with `interpolation` (see imagenet_transform).
    """
    from PIL import Image

    files = foolbox_sample_files(dataset)
    images = []
    for path, _ in files:
        with Image.open(path) as im:
            if dataset == "imagenet":
                images.append(imagenet_transform(im, size, interpolation))
                continue
            a = np.asarray(im.convert("L" if dataset in ("mnist", "fashionMNIST") else "RGB"))
        images.append(torch.from_numpy(a.copy()).reshape(a.shape[0], a.shape[1], -1).permute(2, 0, 1).float() / 255)
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return torch.stack(images), labels, class_names(dataset)


# ---------------------------------------------------------------------------------------------

"""The dataset registry: one record per dataset (its images, labels, bank family and loader), read by every part
of the kit that needs to know a dataset, so that a new dataset is one loader plus one `register_dataset` call."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

import torch

from cnr.data.fmnist import load_fmnist
from cnr.data.foolbox_samples import load_foolbox_samples
from cnr.data.imagenet import IMAGENET_INTERPOLATIONS, load_imagenet_val
from cnr.data.protocol import load_imagenet_cpu, load_imagenet_protocol
from cnr.errors import InputError, unknown_name
from cnr.parsing import check_int

Loader = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: what it holds, which classifiers may read it, which bank restores it, how to load it.

    `load(limit, interpolation)` returns (float [0,1] NCHW images, int64 labels), the first `limit` images (None:
    all); `interpolation` is the resize filter of datasets that resize (cnr.data.imagenet), others ignore it. With
    `needs_classifier`, the loader keeps only images a classifier gets right, so it also receives `classifier=`,
    `device=` and `seed=` (cnr.data.protocol).
    """

    description: str
    load: Loader
    labels: str  # label space: a classifier is refused unless its ClassifierInfo.dataset names the same one
    num_classes: int
    channels: int
    image_size: int
    bank_family: str  # the AR-GAN bank that restores its images: "fmnist" (gray) or "natural" (RGB photos)
    size: int | None = None  # images it holds where that is fixed: a larger sample is refused up front
    needs_classifier: bool = False


def _fmnist(split: str, limit: int | None, interpolation: str) -> tuple[torch.Tensor, torch.Tensor]:
    return load_fmnist(split, limit=limit)


def _foolbox(dataset: str, limit: int | None, interpolation: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = load_foolbox_samples(dataset, interpolation=interpolation)
    return x[:limit], y[:limit]


def _foolbox_record(what: str, dataset: str, labels: str, num_classes: int, channels: int, image_size: int,
                    bank_family: str) -> DatasetInfo:
    shape = f"{channels}x{image_size}x{image_size}"
    return DatasetInfo(f"Foolbox's 20 {what} images ({shape})", partial(_foolbox, dataset), labels, num_classes,
                       channels, image_size, bank_family, size=20)


DATASETS: dict[str, DatasetInfo] = {
    "fmnist": DatasetInfo("Fashion-MNIST test split (10,000 x 1x28x28)", partial(_fmnist, "test"), "fmnist", 10, 1,
                          28, "fmnist", size=10_000),
    "fmnist-train": DatasetInfo("Fashion-MNIST training split (60,000 x 1x28x28)", partial(_fmnist, "train"),
                                "fmnist", 10, 1, 28, "fmnist", size=60_000),
    "foolbox-cifar10": _foolbox_record("CIFAR-10 test", "cifar10", "cifar10", 10, 3, 32, "natural"),
    "foolbox-cifar100": _foolbox_record("CIFAR-100 test", "cifar100", "cifar100", 100, 3, 32, "natural"),
    "foolbox-imagenet": _foolbox_record("ImageNet-val (resize 256 + center crop)", "imagenet", "imagenet", 1000, 3,
                                        224, "natural"),
    "foolbox-mnist": _foolbox_record("MNIST test", "mnist", "mnist", 10, 1, 28, "fmnist"),
    "foolbox-fmnist": _foolbox_record("Fashion-MNIST test", "fashionMNIST", "fmnist", 10, 1, 28, "fmnist"),
    "imagenet-val": DatasetInfo("ImageNet-val from $CNR_IMAGENET or data/imagenet/val (3x224x224; labels "
                                "$CNR_IMAGENET_LABELS)", load_imagenet_val, "imagenet", 1000, 3, 224, "natural"),
    "imagenet": DatasetInfo("the paper's protocol on ImageNet-val: per class, the first image the classifier gets "
                            "right (1,000 x 3x224x224)", load_imagenet_protocol, "imagenet", 1000, 3, 224, "natural",
                            needs_classifier=True),
    "imagenet-cpu": DatasetInfo("Foolbox's ImageNet images the classifier gets right, then held-out photo-corpus "
                                "crops labelled by its confident top-1 (3x224x224)", load_imagenet_cpu, "imagenet",
                                1000, 3, 224, "natural", needs_classifier=True),
}


BANK_FAMILIES = ("fmnist", "natural")  # the AR-GAN banks: gray Fashion-MNIST, natural RGB photos


def register_dataset(name: str, info: DatasetInfo) -> None:
    """Add (or replace) a dataset: every command, profile and check of the kit then knows it by `name`."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"a dataset name is non-empty text, got {name!r}")
    if not isinstance(info, DatasetInfo):
        raise InputError(f"register_dataset takes a DatasetInfo record, got {type(info).__name__}")
    if not callable(info.load):
        raise InputError(f"dataset {name}: load must be a function (limit, interpolation) -> (images, labels)")
    if not isinstance(info.labels, str) or not info.labels:
        raise InputError(f"dataset {name}: labels names its label space (e.g. 'fmnist'), got {info.labels!r}")
    if info.bank_family not in BANK_FAMILIES:
        raise unknown_name(f"bank family (dataset {name})", str(info.bank_family), BANK_FAMILIES)
    check_int(info.num_classes, f"dataset {name}: num_classes", 2)
    check_int(info.channels, f"dataset {name}: channels", 1)
    check_int(info.image_size, f"dataset {name}: image_size", 1)
    check_int(info.size, f"dataset {name}: size", 1, optional=True)
    DATASETS[name] = info


def dataset_info(name: str) -> DatasetInfo:
    """The record of a registered dataset; an unknown name is the kit's error listing the known ones."""
    if not isinstance(name, str) or name not in DATASETS:
        raise unknown_name("dataset", str(name), DATASETS)
    return DATASETS[name]


class _BankFamilies(Mapping[str, str]):
    """Each registered dataset's bank family by name, read live so that later registrations are in it."""

    def __getitem__(self, name: str) -> str:
        return DATASETS[name].bank_family

    def __iter__(self) -> Iterator[str]:
        return iter(DATASETS)

    def __len__(self) -> int:
        return len(DATASETS)

    def __repr__(self) -> str:
        return repr(dict(self))


# Which AR-GAN bank family restores a dataset's images: a read-only view of DatasetInfo.bank_family.
BANK_FAMILY: Mapping[str, str] = _BankFamilies()


def check_sample_size(dataset: str, n: int, what: str) -> int:
    """`n` images of `dataset`, refused (not silently cut) when the dataset holds fewer."""
    have = dataset_info(dataset).size
    if have is not None and n > have:
        raise InputError(f"{what} {n} is more than the {have:,} images of {dataset}; pass at most {have}")
    return n


def load_dataset(name: str, limit: int | None = None, interpolation: str = "bilinear", *,
                 classifier: torch.nn.Module | None = None, device: str | torch.device = "cpu", seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A registered dataset as (float [0,1] NCHW images, int64 labels); `limit` keeps the first images.

    `interpolation` is the resize filter of the ImageNet datasets (imagenet_transform); others ignore it.
    `classifier`, `device` and `seed` reach only the datasets that select images a classifier gets right
    (`imagenet`, `imagenet-cpu`), which need them; cnr.eval.evaluator.make_evaluator passes the run's.

    `imagenet-val` loads images into memory (50,000 at 224 px are 30 GB): pass a limit.
    """
    from cnr.checks import check_images, check_labels, resolve_device
    from cnr.parsing import parse_seed

    info = dataset_info(name)
    device, seed = resolve_device(device, flag="device"), parse_seed(seed, "seed")
    limit = check_int(limit, "limit", 1, optional=True)
    if limit is not None:
        check_sample_size(name, limit, "limit")
    if not isinstance(interpolation, str) or interpolation not in IMAGENET_INTERPOLATIONS:
        # checked for every dataset, so a typo fails here even where this dataset would not resize
        raise unknown_name("interpolation", str(interpolation), IMAGENET_INTERPOLATIONS)
    if info.needs_classifier:
        if classifier is None:
            raise InputError(f"dataset {name} keeps only the images a classifier gets right: load it with "
                             f"classifier= (and device=, seed=), as make_evaluator does with the run's")
        x, y = info.load(limit, interpolation, classifier=classifier, device=device, seed=seed)
    else:
        x, y = info.load(limit, interpolation)
    if limit is not None and len(x) < limit and not info.needs_classifier:  # a dataset of no declared size
        warnings.warn(f"dataset {name} holds {len(x)} images, fewer than limit={limit}: all {len(x)} are used",
                      stacklevel=2)
    if len(x):  # a selecting protocol may keep none; it warns about that itself
        check_images(x, channels=info.channels, size=info.image_size, name=f"dataset {name}'s images")
    check_labels(y, len(x), info.num_classes)
    return x, y

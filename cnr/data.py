"""Datasets the kit evaluates and trains on, all as float [0,1] NCHW tensors with int64 labels."""
from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from cnr.errors import DataNotFoundError, InputError, unknown_name

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CNR_DATA", REPO_ROOT / "data"))

# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------
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
    return [FMNIST_SYSTEM_DIR, DATA_DIR / "fashion-mnist", DATA_DIR / "fashion-mnist" / "FashionMNIST" / "raw"]


def find_fmnist(download: bool = True) -> Path:
    """Return the folder holding the four Fashion-MNIST idx files, downloading with torchvision if allowed."""
    names = [n for pair in _FMNIST_FILES.values() for n in pair]
    for d in fmnist_dirs():
        if all((d / n).is_file() for n in names):
            return d
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(DATA_DIR / "fashion-mnist"), train=True, download=True)
            FashionMNIST(str(DATA_DIR / "fashion-mnist"), train=False, download=True)
            d = DATA_DIR / "fashion-mnist" / "FashionMNIST" / "raw"
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
        f"(2) put the four *-ubyte.gz files in {DATA_DIR / 'fashion-mnist'}; "
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


def load_fmnist(split: str = "test", limit: int | None = None, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
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
# hubble_deep_field 872x1000, stereo_motorcycle 500x741 (left view), china 427x640, flower 427x640,
# grace_hopper 600x512.
NATURAL_PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "stereo_motorcycle",
    "china", "flower", "grace_hopper",
)
NATURAL_VAL = ("grace_hopper", "flower")  # validation patches come only from these: never trained on
NATURAL_TRAIN = tuple(n for n in NATURAL_PHOTOS if n not in NATURAL_VAL)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")


def _photo_uint8(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    from skimage import data as skdata

    img = getattr(skdata, name)()
    return img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disparity)


@lru_cache(maxsize=2)
def _photos(gray: bool) -> dict[str, torch.Tensor]:
    out = {}
    for name in NATURAL_PHOTOS:
        x = torch.from_numpy(np.array(_photo_uint8(name))).permute(2, 0, 1).float().div_(255.0)
        if gray:
            x = (torch.tensor(_LUMA).view(3, 1, 1) * x).sum(0, keepdim=True).clamp_(0, 1)
        out[name] = x
    return out


def natural_photos(gray: bool = False) -> dict[str, torch.Tensor]:
    """The nine offline photos as (C,H,W) float [0,1] (C=1 if gray); copies, so callers may edit them."""
    return {k: v.clone() for k, v in _photos(gray).items()}


def sample_patches(
    n: int,
    size: int,
    gray: bool = False,
    seed: int = 0,
    names: list[str] | tuple[str, ...] | None = None,
    flip: bool = True,
) -> torch.Tensor:
    """Random (n,C,size,size) crops for AR-GAN training, the same for the same seed.

    Photos are drawn uniformly from `names` (default NATURAL_TRAIN; pass NATURAL_VAL for held-out
    validation patches) among those at least `size` px on each side; crops are uniform in position and
    flipped left-right with probability 1/2 when `flip`.
    """
    if not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, int) or size < 1:
        raise InputError(f"size must be a positive int, got {size!r}")
    names = list(NATURAL_TRAIN if names is None else names)
    if not names:
        raise InputError("names is empty; pick photos from " + ", ".join(NATURAL_PHOTOS))
    for nm in names:
        if nm not in NATURAL_PHOTOS:
            raise unknown_name("photo", nm, NATURAL_PHOTOS)
    photos = _photos(gray)
    fits = [nm for nm in names if min(photos[nm].shape[1:]) >= size]
    if not fits:
        smallest = min(min(photos[nm].shape[1:]) for nm in names)
        raise InputError(f"patch size {size} exceeds every chosen photo (the largest fits {smallest} px or less)")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(len(fits), (n,), generator=g)
    pos = torch.rand(n, 2, generator=g, dtype=torch.float64)
    flips = torch.rand(n, generator=g) < 0.5
    out = torch.empty(n, photos[fits[0]].shape[0], size, size)
    ar = torch.arange(size)
    for k, nm in enumerate(fits):
        sel = (which == k).nonzero().squeeze(1)
        if sel.numel() == 0:
            continue
        img = photos[nm]
        h, w = img.shape[1:]
        y0 = (pos[sel, 0] * (h - size + 1)).long().clamp_(max=h - size)
        x0 = (pos[sel, 1] * (w - size + 1)).long().clamp_(max=w - size)
        rows, cols = y0[:, None] + ar, x0[:, None] + ar  # (k, size) each
        out[sel] = img[:, rows[:, :, None], cols[:, None, :]].transpose(0, 1)  # gather all k crops at once
    if flip:
        out = torch.where(flips.view(-1, 1, 1, 1), out.flip(-1), out)
    return out


# ---------------------------------------------------------------------------------------------
# Foolbox 3.3.4's labelled samples: 20 real test images per dataset, held out of all training
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


def load_foolbox_samples(
    dataset: str, size: int = 224, interpolation: str = "bilinear"
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
# ImageNet validation (paper profile): a folder the user names, and the paper's selection protocol
# ---------------------------------------------------------------------------------------------
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


IMAGENET_INTERPOLATIONS = ("bilinear", "bicubic")


def imagenet_transform(image, size: int = 224, interpolation: str = "bilinear") -> torch.Tensor:
    """PIL image -> (3,size,size) float [0,1]: shorter side to size*256/224 (256), then center crop.

    `interpolation` is the resize filter: "bilinear" (torchvision's recipe, the default) or "bicubic"
    (TensorFlow-trained models such as efficientnet-lite0 were evaluated with it).
    """
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode

    if interpolation not in IMAGENET_INTERPOLATIONS:
        raise unknown_name("interpolation", interpolation, IMAGENET_INTERPOLATIONS)
    image = image.convert("RGB")
    image = TF.resize(image, round(size * 256 / 224), interpolation=InterpolationMode(interpolation), antialias=True)
    image = TF.center_crop(image, [size, size])
    return TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)


class ImageNetVal(torch.utils.data.Dataset):
    """ImageNet-val images as ((3,size,size) float [0,1], int label), from a folder in one of two layouts.

    - ImageFolder: one sub-folder per synset (all `num_classes` of them); sorted synset names give the
      class index 0..999, which is torchvision's (and Keras's) ImageNet order.
    - Flat: the images in one folder plus a labels file of lines `filename label_index` with the same
      0-based index (not the 1-based ILSVRC ids of the devkit's ground-truth file); it defaults to
      `labels.txt` in the folder. Lines starting with # are comments; files listed but absent are ignored.
    Samples are sorted by (class folder, file name) or by file name, so the order is deterministic.
    """

    def __init__(
        self, root: str | os.PathLike, labels_file: str | os.PathLike | None = None, size: int = 224,
        num_classes: int = 1000, interpolation: str = "bilinear",
    ) -> None:
        self.root, self.size, self.num_classes = Path(root), size, num_classes
        if interpolation not in IMAGENET_INTERPOLATIONS:
            raise unknown_name("interpolation", interpolation, IMAGENET_INTERPOLATIONS)
        self.interpolation = interpolation
        if not self.root.is_dir():
            raise DataNotFoundError(
                f"ImageNet-val folder {self.root} does not exist; point CNR_IMAGENET (or the root argument) at "
                "a folder with one sub-folder per synset, or a flat folder plus a labels file"
            )
        subdirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if subdirs and labels_file is None:
            self.layout = "imagefolder"
            if len(subdirs) != num_classes:
                raise InputError(
                    f"{self.root} has {len(subdirs)} class sub-folders; the ImageFolder layout needs all "
                    f"{num_classes} (sorted names = class index), empty ones included"
                )
            self.classes = [p.name for p in subdirs]
            self.samples = [(f, c) for c, d in enumerate(subdirs) for f in _images_in(d)]
        else:
            self.layout = "flat"
            files = _images_in(self.root)
            if not files:
                raise DataNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {self.root}")
            labels_path = Path(labels_file) if labels_file is not None else self.root / "labels.txt"
            if not labels_path.is_file():
                raise DataNotFoundError(
                    f"labels file {labels_path} not found; a flat ImageNet-val folder needs one with lines "
                    "'filename label_index' (0-based torchvision order), passed as labels_file or as labels.txt"
                )
            table = _read_labels(labels_path, num_classes)
            missing = [f.name for f in files if f.name not in table]
            if missing:
                raise InputError(
                    f"{labels_path} has no label for {len(missing)} of the {len(files)} images in {self.root}, "
                    f"e.g. {', '.join(missing[:5])}"
                )
            self.classes = [str(i) for i in range(num_classes)]
            self.samples = [(f, table[f.name]) for f in files]
        if not self.samples:
            raise DataNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {self.root}")
        self.targets = [c for _, c in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        with Image.open(path) as im:
            return imagenet_transform(im, self.size, self.interpolation), label


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_labels(path: Path, num_classes: int) -> dict[str, int]:
    table: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(f"{path}:{lineno}: expected 'filename label_index', got {line!r}")
        label = int(parts[1])
        if not 0 <= label < num_classes:
            raise InputError(f"{path}:{lineno}: label {label} is outside [0, {num_classes - 1}]")
        table[Path(parts[0]).name] = label
    return table


def select_protocol_images(
    dataset: torch.utils.data.Dataset,
    classifier: torch.nn.Module,
    n_classes: int = 1000,
    per_class: int = 1,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
) -> list[int]:
    """The paper's protocol: per class, the first `per_class` images (dataset order) the classifier gets right.

    Only images of classes still short of their quota are classified; the walk stops once every class is
    full. Returns sorted indices and warns when some classes could not be filled.
    """
    import warnings

    if per_class < 1 or n_classes < 1 or batch_size < 1:
        raise InputError("n_classes, per_class and batch_size must be positive")
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        targets = [int(t) for t in targets]
        bad = [t for t in targets if not 0 <= t < n_classes]
        if bad:
            raise InputError(f"dataset label {bad[0]} is outside [0, {n_classes - 1}] (n_classes={n_classes})")
    counts = [0] * n_classes
    chosen: list[int] = []
    unfilled = n_classes
    was_training = classifier.training
    classifier.eval().to(device)
    pos, n = 0, len(dataset)
    try:
        while pos < n and unfilled:
            batch: list[int] = []
            while pos < n and len(batch) < batch_size:  # skip classes already full without loading them
                if targets is None or counts[targets[pos]] < per_class:
                    batch.append(pos)
                pos += 1
            if not batch:
                break
            loader = torch.utils.data.DataLoader(
                torch.utils.data.Subset(dataset, batch), batch_size=len(batch), num_workers=num_workers
            )
            x, y = next(iter(loader))
            y = torch.as_tensor(y, dtype=torch.int64)
            with torch.no_grad():
                pred = classifier(x.to(device)).argmax(1).cpu()
            for i, label, p in zip(batch, y.tolist(), pred.tolist()):
                if not 0 <= label < n_classes:
                    raise InputError(f"dataset label {label} at index {i} is outside [0, {n_classes - 1}]")
                if p == label and counts[label] < per_class:
                    counts[label] += 1
                    chosen.append(i)
                    unfilled -= counts[label] == per_class
    finally:
        classifier.train(was_training)
    if unfilled:
        warnings.warn(
            f"ImageNet protocol: {unfilled} of {n_classes} classes have fewer than {per_class} correctly "
            f"classified image(s); selected {len(chosen)} of the {n_classes * per_class} wanted",
            stacklevel=2,
        )
    return sorted(chosen)


# ---------------------------------------------------------------------------------------------
# The registry the CLI and notebooks use
# ---------------------------------------------------------------------------------------------
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
_FOOLBOX_NAMES = {"foolbox-cifar10": "cifar10", "foolbox-cifar100": "cifar100", "foolbox-imagenet": "imagenet",
                  "foolbox-mnist": "mnist", "foolbox-fmnist": "fashionMNIST"}


def imagenet_val_dir() -> Path:
    """Where the ImageNet-val folder is looked for: $CNR_IMAGENET, else data/imagenet/val."""
    return Path(os.environ.get("CNR_IMAGENET", DATA_DIR / "imagenet" / "val"))


def load_dataset(
    name: str, limit: int | None = None, interpolation: str = "bilinear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """A registry dataset as (float [0,1] NCHW images, int64 labels); `limit` keeps the first images.

    `interpolation` is the resize filter of the ImageNet datasets (imagenet_transform); others ignore it.

    `imagenet-val` loads images into memory (50,000 at 224 px are 30 GB): pass a limit, or use
    ImageNetVal with select_protocol_images for the paper's 1,000-image protocol.
    """
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a positive int or None, got {limit!r}")
    if name in ("fmnist", "fmnist-train"):
        return load_fmnist("train" if name == "fmnist-train" else "test", limit=limit)
    if name in _FOOLBOX_NAMES:
        x, y, _ = load_foolbox_samples(_FOOLBOX_NAMES[name], interpolation=interpolation)
        return x[:limit], y[:limit]
    labels = os.environ.get("CNR_IMAGENET_LABELS")
    ds = ImageNetVal(imagenet_val_dir(), labels_file=labels, interpolation=interpolation)
    idx = range(len(ds) if limit is None else min(limit, len(ds)))
    items = [ds[i] for i in idx]
    return torch.stack([im for im, _ in items]), torch.tensor([c for _, c in items], dtype=torch.int64)

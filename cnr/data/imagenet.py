"""ImageNet-val (the paper profile): a folder the user names, read with torchvision's ImageFolder or a labels file."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

from cnr.environment import LABELS_VAR, imagenet_labels_file
from cnr.errors import DataNotFoundError, InputError, unknown_name
from cnr.paths import data_dir, env_folder

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
        from cnr.parsing import check_int

        if not isinstance(root, (str, os.PathLike)) or not str(root).strip():
            raise InputError(f"ImageNetVal root must be a folder path (str or Path), got {type(root).__name__} "
                             f"{root!r}; set CNR_IMAGENET or pass the folder")
        if labels_file is not None and not isinstance(labels_file, (str, os.PathLike)):
            raise InputError(f"ImageNetVal labels_file must be a file path or None, got {type(labels_file).__name__} "
                             f"{labels_file!r}")
        self.root = Path(root)
        self.size = check_int(size, "ImageNetVal size (px of the square crop)", 1)
        self.num_classes = check_int(num_classes, "ImageNetVal num_classes", 2)
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
            from torchvision.datasets import ImageFolder

            folder = ImageFolder(
                str(self.root), is_valid_file=lambda f: f.lower().endswith(IMAGE_SUFFIXES), allow_empty=True
            )
            self.classes = folder.classes
            self.samples = [(Path(f), c) for f, c in folder.samples]
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
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples[index]
        try:
            with Image.open(path) as im:
                return imagenet_transform(im, self.size, self.interpolation), label
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise DataNotFoundError(f"{path} (image {index} of {self.root}) cannot be read as an image "
                                    f"({type(e).__name__}: {e}); remove or replace the file") from None


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_labels(path: Path, num_classes: int) -> dict[str, int]:
    """The labels file as {file name: label}; every line checked, a file named twice refused (which label?)."""
    table: dict[str, int] = {}
    first: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"labels file {path} is not UTF-8 text (byte {e.start}); it must hold lines "
                         f"'filename label_index'") from None
    except OSError as e:
        raise DataNotFoundError(f"labels file {path} cannot be read ({e.strerror or e})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(f"{path}:{lineno}: expected 'filename label_index', got {line!r}")
        label = int(parts[1])
        if not 0 <= label < num_classes:
            raise InputError(f"{path}:{lineno}: label {label} is outside [0, {num_classes - 1}]")
        name = Path(parts[0]).name
        if name in first:
            raise InputError(f"{path}:{lineno}: {name} is listed twice (also on line {first[name]}); "
                             f"give each image one label")
        first[name] = lineno
        table[name] = label
    return table


def imagenet_val_dir() -> Path:
    """Where the ImageNet-val folder is looked for: $CNR_IMAGENET, else data/imagenet/val."""
    return env_folder("CNR_IMAGENET", data_dir() / "imagenet" / "val")


def open_imagenet_val(interpolation: str = "bilinear") -> ImageNetVal:
    """The ImageNet-val folder the environment names ($CNR_IMAGENET, labels from $CNR_IMAGENET_LABELS if set).

    A labels file it names that turns out unusable (wrong lines, labels out of range) is refused naming the
    variable as well as the file, so the user knows which setting to fix."""
    labels = imagenet_labels_file()
    try:
        return ImageNetVal(imagenet_val_dir(), labels_file=labels, interpolation=interpolation)
    except (InputError, DataNotFoundError) as e:
        if labels is None or str(labels) not in str(e):
            raise
        raise type(e)(f"{e} (the labels file set by {LABELS_VAR})") from None


def load_imagenet_val(limit: int | None, interpolation: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """The `imagenet-val` dataset's loader: the first `limit` images of the folder (all of them when None)."""
    ds = open_imagenet_val(interpolation)
    return stack_items(ds, range(len(ds) if limit is None else min(limit, len(ds))))


def stack_items(ds: ImageNetVal, indices: Iterable[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Items of an ImageNet-val folder as one image batch and int64 labels (empty ones for no indices)."""
    items = [ds[i] for i in indices]
    if not items:
        return torch.empty(0, 3, ds.size, ds.size), torch.empty(0, dtype=torch.int64)
    return torch.stack([im for im, _ in items]), torch.tensor([c for _, c in items], dtype=torch.int64)

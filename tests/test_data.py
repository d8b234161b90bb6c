"""Datasets: natural photos and patches, Foolbox's samples, ImageNet-val layouts and protocol, the registry."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from cnr import data
from cnr.data.foolbox_samples import CIFAR10_CLASSES, foolbox_sample_files
from cnr.data.protocol import protocol_images, select_protocol_images
from cnr.errors import DataNotFoundError, InputError

IMAGENET_LABELS = [243, 559, 438, 990, 949, 853, 609, 609, 915, 455, 541, 630, 741, 471, 129, 99, 251, 22, 317, 305]


# --- natural photos ----------------------------------------------------------------

def test_natural_photos_are_offline_rgb_and_gray_in_unit_range():
    rgb, gray = data.natural_photos(), data.natural_photos(gray=True)
    assert tuple(rgb) == data.NATURAL_PHOTOS == tuple(gray)
    assert rgb["astronaut"].shape == (3, 512, 512) and rgb["stereo_motorcycle"].shape == (3, 500, 741)
    assert rgb["grace_hopper"].shape == (3, 600, 512) and rgb["china"].shape == (3, 427, 640)
    for name, x in rgb.items():
        assert x.dtype == torch.float32 and x.ndim == 3 and x.shape[0] == 3, name
        assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05, name
        assert gray[name].shape == (1, *x.shape[1:]) and 0 <= gray[name].min() and gray[name].max() <= 1
    rgb["astronaut"].zero_()  # callers get copies: the cache is untouched
    assert data.natural_photos()["astronaut"].max() > 0


# --- Foolbox samples -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, shape, n_classes",
    [("cifar10", (3, 32, 32), 10), ("cifar100", (3, 32, 32), 100), ("imagenet", (3, 224, 224), 1000),
     ("mnist", (1, 28, 28), 10), ("fashionMNIST", (1, 28, 28), 10)],
)
def test_foolbox_samples(name, shape, n_classes):
    x, y, names = data.load_foolbox_samples(name)
    assert x.shape == (20, *shape) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and y.shape == (20,) and len(names) == n_classes
    files = foolbox_sample_files(name)
    assert [int(p.stem.split("_")[1]) for p, _ in files] == list(range(20))
    assert y.tolist() == [int(p.stem.split("_")[2]) for p, _ in files]


def test_foolbox_imagenet_sizes_and_labels():
    from PIL import Image

    sizes = [Image.open(p).size for p, _ in foolbox_sample_files("imagenet")]
    assert sizes.count((512, 512)) == 19 and sizes[10] == (1024, 683)
    x, y, names = data.load_foolbox_samples("imagenet", size=64)
    assert x.shape == (20, 3, 64, 64) and y.tolist() == IMAGENET_LABELS
    assert names[243] == "bull mastiff" and names[0] == "tench"


def test_class_names_are_the_standard_lists():
    assert data.class_names("cifar10") == list(CIFAR10_CLASSES)
    assert CIFAR10_CLASSES[:3] == ("airplane", "automobile", "bird")
    c100 = data.class_names("cifar100")
    assert len(c100) == len(set(c100)) == 100 and c100 == sorted(c100)
    assert (c100[0], c100[49], c100[99]) == ("apple", "mountain", "worm")  # foolbox's cifar100_00 is label 49
    assert data.class_names("mnist") == [str(i) for i in range(10)]
    assert data.class_names("fashionMNIST")[9] == "Ankle boot"


def test_foolbox_fashion_samples_are_the_first_fmnist_test_images():
    try:
        x, y = data.load_fmnist("test", limit=20, download=False)
    except DataNotFoundError:
        pytest.skip("Fashion-MNIST not on disk")
    fx, fy, _ = data.load_foolbox_samples("fashionMNIST")
    assert torch.equal(fy, y) and torch.equal(fx, x)


def test_fmnist_splits_shapes_and_first_labels():
    try:
        x, y = data.load_fmnist("test", limit=10, download=False)
    except DataNotFoundError:
        pytest.skip("Fashion-MNIST not on disk")
    # the published first test labels (ankle boot, pullover, trouser, trouser, shirt, ...)
    assert y.tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7] and x.shape == (10, 1, 28, 28)
    assert x.sum().item() == pytest.approx(1748.5334, abs=1e-3)  # uint8 / 255 summed in float32: exact to ~1e-4
    assert data.load_fmnist("train", limit=4)[1].tolist() == [9, 0, 0, 3]
    assert len(data.load_fmnist("test")[1]) == 10000 and len(data.load_fmnist("train")[1]) == 60000
    with pytest.raises(InputError, match="valid: train, test"):
        data.load_fmnist("val")


def test_unknown_foolbox_dataset_lists_the_valid_ones():
    with pytest.raises(InputError, match="valid Foolbox datasets: cifar10, cifar100, fashionMNIST, imagenet, mnist"):
        data.load_foolbox_samples("svhn")


# --- registry ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n, info in data.DATASETS.items()
                                  if n != "imagenet-val" and not info.needs_classifier])
def test_registry_loads_every_offline_dataset(name):
    if name.startswith("fmnist"):
        try:
            data.find_fmnist(download=False)
        except DataNotFoundError:
            pytest.skip("Fashion-MNIST not on disk")
    x, y = data.load_dataset(name, limit=3)
    assert x.shape[0] == y.shape[0] == 3 and x.ndim == 4 and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1


def test_every_dataset_has_a_bank_of_its_channels():
    from cnr.config import PROFILES

    assert {p.data.dataset for p in PROFILES.values()} <= set(data.DATASETS)  # paper's "imagenet" included
    assert set(data.BANK_FAMILY.values()) == {"fmnist", "natural"}
    for name, info in data.DATASETS.items():  # the gray bank restores gray images, the natural one RGB
        assert (info.bank_family == "fmnist") == (info.channels == 1), name
    assert data.BANK_FAMILY["foolbox-cifar10"] == "natural" and data.BANK_FAMILY["foolbox-mnist"] == "fmnist"


def test_registry_errors(monkeypatch, tmp_path):
    with pytest.raises(InputError, match="valid datasets: fmnist, fmnist-train, foolbox-cifar10"):
        data.load_dataset("cifar10")
    with pytest.raises(InputError, match="limit"):
        data.load_dataset("foolbox-mnist", limit=0)
    with pytest.raises(InputError, match="seed"):  # checked for every dataset, used by the selecting ones
        data.load_dataset("foolbox-mnist", limit=2, seed=-1)
    with pytest.raises(InputError, match="tpu"):
        data.load_dataset("foolbox-mnist", limit=2, device="tpu")
    monkeypatch.setenv("CNR_IMAGENET", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match="CNR_IMAGENET"):
        data.load_dataset("imagenet-val")


# --- ImageNet-val: both layouts, and the paper's protocol ------------------------------------------

def _flat(tmp_path: Path, labels: bool = True) -> Path:
    root = tmp_path / "flat"
    root.mkdir()
    lines = []
    for p, label in foolbox_sample_files("imagenet"):
        (root / p.name).symlink_to(p)
        lines.append(f"{p.name} {label}")
    if labels:
        (root / "labels.txt").write_text("# filename label\n" + "\n".join(lines) + "\n")
    return root


def _imagefolder(tmp_path: Path) -> Path:
    root = tmp_path / "synsets"
    for c in range(1000):
        (root / f"n{c:08d}").mkdir(parents=True)  # sorted names = class index, as real synset ids
    for p, label in foolbox_sample_files("imagenet"):
        (root / f"n{label:08d}" / p.name).symlink_to(p)
    return root


class StandIn(nn.Module):
    """Recognises the 20 Foolbox images by nearest thumbnail; right on `correct`, wrong elsewhere."""

    def __init__(self, correct: set[int], size: int = 64):
        super().__init__()
        x, y, _ = data.load_foolbox_samples("imagenet", size=size)
        self.register_buffer("refs", nn.functional.adaptive_avg_pool2d(x, 8).flatten(1))
        answers = [lab if i in correct else (lab + 1) % 1000 for i, lab in enumerate(y.tolist())]
        self.register_buffer("answers", torch.tensor(answers))
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        which = torch.cdist(nn.functional.adaptive_avg_pool2d(x, 8).flatten(1), self.refs).argmin(1)
        return nn.functional.one_hot(self.answers[which], 1000).float()




def _foolbox_index(ds: data.ImageNetVal, i: int) -> int:
    return int(ds.samples[i][0].stem.split("_")[1])


def test_imagenet_val_flat_layout(tmp_path):
    ds = data.ImageNetVal(_flat(tmp_path), size=64)
    assert ds.layout == "flat" and len(ds) == 20 and ds.targets == IMAGENET_LABELS
    x, label = ds[10]  # the 1024x683 one
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and label == 541
    fx, _, _ = data.load_foolbox_samples("imagenet", size=64)
    assert torch.equal(x, fx[10])


def test_imagenet_val_imagefolder_layout(tmp_path):
    ds = data.ImageNetVal(_imagefolder(tmp_path))
    assert ds.layout == "imagefolder" and len(ds) == 20 and len(ds.classes) == 1000
    assert ds.targets == sorted(IMAGENET_LABELS)  # ordered by class folder
    x, label = ds[0]
    assert x.shape == (3, 224, 224) and label == 22 and _foolbox_index(ds, 0) == 17


def test_imagenet_val_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        data.ImageNetVal(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="no images"):
        data.ImageNetVal(tmp_path / "empty")
    flat = _flat(tmp_path, labels=False)
    with pytest.raises(DataNotFoundError, match="labels file .* not found"):
        data.ImageNetVal(flat)
    lines = [f"{p.name} {lab}" for p, lab in foolbox_sample_files("imagenet")]
    (tmp_path / "short.txt").write_text("\n".join(lines[:-2]))
    with pytest.raises(InputError, match="no label for 2 of the 20 images"):
        data.ImageNetVal(flat, labels_file=tmp_path / "short.txt")
    (tmp_path / "bad.txt").write_text("a.jpg\n")
    with pytest.raises(InputError, match=r"bad\.txt:1\b.*'a\.jpg'"):
        data.ImageNetVal(flat, labels_file=tmp_path / "bad.txt")
    (tmp_path / "range.txt").write_text("a.jpg 1000\n")
    with pytest.raises(InputError, match="outside"):
        data.ImageNetVal(flat, labels_file=tmp_path / "range.txt")
    few = tmp_path / "few"
    for c in ("n01", "n02"):
        (few / c).mkdir(parents=True)
    with pytest.raises(InputError, match="has 2 class sub-folders"):
        data.ImageNetVal(few)


def test_protocol_on_flat_layout_picks_first_correct_per_class(tmp_path):
    ds = data.ImageNetVal(_flat(tmp_path), size=64)
    wrong = {3, 6}  # 3 is the only 990; 6 and 7 are both 609; so 1000 - 19 + 1 classes stay empty
    clf = StandIn(set(range(20)) - wrong)
    with pytest.warns(UserWarning, match="982 of 1000 classes"):
        chosen = select_protocol_images(ds, clf, batch_size=8)
    assert chosen == [i for i in range(20) if i not in (3, 6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        all_right = StandIn(set(range(20)))
        assert select_protocol_images(ds, all_right, batch_size=8) == [i for i in range(20) if i != 7]
        assert select_protocol_images(ds, all_right, per_class=2) == list(range(20))


def test_protocol_on_imagefolder_layout(tmp_path):
    ds = data.ImageNetVal(_imagefolder(tmp_path), size=64)
    clf = StandIn(set(range(20)) - {3, 6})
    with pytest.warns(UserWarning, match="982 of 1000"):
        chosen = select_protocol_images(ds, clf, batch_size=5)
    assert sorted(_foolbox_index(ds, i) for i in chosen) == [i for i in range(20) if i not in (3, 6)]
    assert chosen == sorted(chosen)


def test_protocol_skips_full_classes_and_stops_early():
    class Toy(torch.utils.data.Dataset):
        targets = [0, 1, 0, 1, 2, 2, 0, 1]

        def __len__(self):
            return len(self.targets)

        def __getitem__(self, i):
            return torch.full((1, 2, 2), i / 10), self.targets[i]

    class Oracle(nn.Module):  # right except on item 1
        def __init__(self):
            super().__init__()
            self.seen: list[int] = []

        def forward(self, x):
            idx = (x[:, 0, 0, 0] * 10).round().long()
            self.seen += idx.tolist()
            pred = torch.tensor([Toy.targets[i] if i != 1 else 0 for i in idx.tolist()])
            return nn.functional.one_hot(pred, 3).float()

    clf = Oracle()
    assert select_protocol_images(Toy(), clf, n_classes=3, batch_size=2) == [0, 3, 4]
    assert clf.seen == [0, 1, 3, 4]  # items 2 (class 0 full) skipped unseen; stopped after 4
    with pytest.raises(InputError, match="outside"):
        select_protocol_images(Toy(), Oracle(), n_classes=2)


def test_registry_reads_imagenet_val_from_env(monkeypatch, tmp_path):
    root = _flat(tmp_path)
    monkeypatch.setenv("CNR_IMAGENET", str(root))
    x, y = data.load_dataset("imagenet-val", limit=3)
    assert x.shape == (3, 3, 224, 224) and y.tolist() == IMAGENET_LABELS[:3]
    assert os.environ["CNR_IMAGENET"] == str(data.imagenet_val_dir())


def test_protocol_images_reads_the_folder_and_keeps_the_first_n(monkeypatch, tmp_path):
    monkeypatch.setenv("CNR_IMAGENET", str(_flat(tmp_path)))
    monkeypatch.delenv("CNR_IMAGENET_LABELS", raising=False)
    clf = StandIn(set(range(20)) - {0})  # image 0 (label 243) misclassified: never selected
    with pytest.warns(UserWarning, match="of 1000 classes"):
        x, y = protocol_images(clf, 4, "cpu")
    assert x.shape == (4, 3, 224, 224) and y.tolist() == IMAGENET_LABELS[1:5]
    fx, _, _ = data.load_foolbox_samples("imagenet")
    assert torch.equal(x, fx[1:5])


def _flat_imagenet(tmp_path, labels: bytes):
    from PIL import Image

    root = tmp_path / "val"
    root.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(root / name)
    (root / "labels.txt").write_bytes(labels)
    return root


def test_corrupt_labels_file_line(tmp_path):
    from PIL import Image

    from cnr.data import ImageNetVal

    (tmp_path / "a.png").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "labels.txt").write_text("a.png seven\n")
    with pytest.raises(InputError, match=r"labels\.txt:1\b.*'a\.png seven'"):
        ImageNetVal(tmp_path)


@pytest.mark.parametrize("kwargs, labels, needle", [  # the argument (or the file and line) and the value given
    (dict(root=None), b"a.png 1\nb.png 2\n", r"root\b.*NoneType"),
    (dict(), b"a.png 1\nb.png 2\n\xff\xfe\n", r"labels\.txt\b.*UTF-8"),
    (dict(size=0), b"a.png 1\nb.png 2\n", r"size\b.*\b0$"),
    (dict(size=-224), b"a.png 1\nb.png 2\n", r"size\b.*-224"),
    (dict(size=22.4), b"a.png 1\nb.png 2\n", r"size\b.*22\.4"),
    (dict(), b"a.png 1\nb.png 2\na.png 3\n", r"a\.png\b.*twice.*line 1\b"),
    (dict(num_classes=0), b"a.png 1\nb.png 2\n", r"num_classes\b.*\b0\b"),
])
def test_imagenet_val_arguments(tmp_path, kwargs, labels, needle):
    from cnr.data import ImageNetVal
    from cnr.errors import InputError

    root = _flat_imagenet(tmp_path, labels)
    with pytest.raises(InputError, match=needle):
        ImageNetVal(**{"root": root, **kwargs})


@pytest.mark.parametrize("interpolation", ["nearest", "BILINEAR", None])
def test_load_dataset_names_the_interpolations(interpolation):
    from cnr.data import load_dataset
    from cnr.errors import InputError

    with pytest.raises(InputError, match=rf"{interpolation!r}.*bicubic, bilinear"):
        load_dataset("fmnist", limit=2, interpolation=interpolation)

"""The dataset registry: a dataset registered in one call runs through a profile and the evaluator, and a classifier
is refused on a dataset whose images or labels it was not trained for."""
from __future__ import annotations

import pytest
import torch

from cnr.data import BANK_FAMILY, DATASETS, DatasetInfo, load_dataset, load_foolbox_samples, register_dataset
from cnr.defenses import DefenseSpec
from cnr.errors import InputError
from cnr.eval.evaluator import make_evaluator
from cnr.eval.specs import AttackSpec, Cell
from cnr.run import resolve_run

SMALL = {"samples.eval": 4, "samples.costly": 4}


def mirrored_fashion(limit: int | None, interpolation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Foolbox's Fashion-MNIST samples mirrored left to right: new images in the Fashion-MNIST label space."""
    x, y, _ = load_foolbox_samples("fashionMNIST")
    return x.flip(-1)[:6][:limit], y[:6][:limit]


@pytest.fixture
def toy():
    register_dataset("toy", DatasetInfo("mirrored Foolbox Fashion-MNIST images (6 x 1x28x28)", mirrored_fashion,
                                        labels="fmnist", num_classes=10, channels=1, image_size=28,
                                        bank_family="fmnist", size=6))
    yield "toy"
    DATASETS.pop("toy")


def test_a_registered_dataset_runs_through_a_profile_and_the_evaluator(toy, tmp_path):
    run = resolve_run("smoke", {"data.dataset": toy, **SMALL}, results_root=tmp_path)
    ev = make_evaluator(run)
    x, y = mirrored_fashion(4, "bilinear")
    assert torch.equal(ev.x, x) and torch.equal(ev.y, y) and ev.dataset == "toy"
    assert BANK_FAMILY["toy"] == "fmnist" and ev.bank.qfs == (5, 10, 20, 30, 40, 60)  # the gray bank
    row = ev.run_cell(Cell(DefenseSpec("none", "none"), AttackSpec("clean", "clean", "linf", 0.0, kind="clean")))
    assert (row["dataset"], row["classifier"], row["n"]) == ("toy", "fmnist-cnn", 4)
    with pytest.raises(InputError, match=r"samples\.eval\b.*\b7\b.*\b6 images of toy"):
        resolve_run("smoke", {"data.dataset": toy, **SMALL, "samples.eval": 7}, results_root=tmp_path)


@pytest.mark.parametrize("dataset, classifier, needle", [  # what differs: the label spaces, channels or size
    ("foolbox-mnist", "fmnist-cnn", r"fmnist labels.*mnist labels"),
    ("foolbox-cifar100", "cifar10-keras", r"cifar10 labels \(10 classes\).*cifar100 labels \(100 classes\)"),
    ("foolbox-cifar10", "fmnist-cnn", r"1-channel.*3-channel"),
    ("foolbox-imagenet", "cifar10-keras", r"32 px.*224 px"),
])
def test_a_classifier_is_refused_on_a_dataset_it_was_not_trained_for(tmp_path, dataset, classifier, needle):
    with pytest.raises(InputError, match=rf"data\.classifier='{classifier}'.*data\.dataset='{dataset}'.*{needle}"):
        resolve_run("smoke", {"data.dataset": dataset, "data.classifier": classifier}, results_root=tmp_path)


def test_a_registered_dataset_with_other_labels_is_refused(toy, tmp_path):
    register_dataset(toy, DatasetInfo("digits", mirrored_fashion, "mnist", 10, 1, 28, "fmnist", size=6))
    with pytest.raises(InputError, match=r"fmnist labels.*mnist labels"):
        resolve_run("smoke", {"data.dataset": toy, **SMALL}, results_root=tmp_path)


def test_registration_and_loading_check_the_record(toy):
    good = DATASETS[toy]
    with pytest.raises(InputError, match=r"dataset bad\b.*'rgb'.*fmnist, natural"):
        register_dataset("bad", DatasetInfo("x", mirrored_fashion, "fmnist", 10, 1, 28, "rgb"))
    with pytest.raises(InputError, match=r"dataset bad\b.*num_classes\b.*\b1$"):
        register_dataset("bad", DatasetInfo("x", mirrored_fashion, "fmnist", 1, 1, 28, "fmnist"))
    with pytest.raises(InputError, match=r"register_dataset\b.*DatasetInfo.*dict"):
        register_dataset("bad", {"load": mirrored_fashion})
    assert "bad" not in DATASETS
    register_dataset(toy, DatasetInfo("says RGB", mirrored_fashion, "fmnist", 10, 3, 28, "natural"))
    with pytest.raises(InputError, match=r"dataset toy\b.*1 channel.*3"):
        load_dataset(toy)  # a loader that gives other images than its record says is caught at the edge
    register_dataset(toy, good)
    with pytest.raises(InputError, match=r"dataset imagenet\b.*classifier"):
        load_dataset("imagenet", limit=2)


def test_load_dataset_limit_above_the_data_refused():
    """A limit past the dataset's size would return fewer images silently."""
    with pytest.raises(InputError, match=r"limit 1000000.*10,000"):
        load_dataset("fmnist", limit=1_000_000)


def test_load_dataset_of_no_declared_size_says_when_fewer():
    register_dataset("toy-unsized", DatasetInfo("6 images, size not declared", mirrored_fashion, "fmnist", 10, 1, 28,
                                                "fmnist"))
    try:
        with pytest.warns(UserWarning, match=r"toy-unsized holds 6 images.*limit=50"):
            assert len(load_dataset("toy-unsized", limit=50)[0]) == 6
    finally:
        DATASETS.pop("toy-unsized")

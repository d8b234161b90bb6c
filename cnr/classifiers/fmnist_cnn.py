"""The kit's Fashion-MNIST classifier: a small VGG-style CNN whose features also feed the AR-GAN perceptual loss."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cnr.errors import InputError
from cnr.paths import WEIGHTS_DIR
from cnr.weights import load_state_into

FMNIST_CNN_WEIGHTS = WEIGHTS_DIR / "fmnist-cnn.safetensors"
FMNIST_CNN_TRAIN_CMD = "cnr train-classifier --profile quick --out <folder>"


class FashionCNN(nn.Module):
    """A small VGG-style CNN for 28x28 gray images; `features` feeds the AR-GAN perceptual loss."""

    mean, std = 0.2860, 0.3530  # Fashion-MNIST train statistics

    def __init__(self, num_classes: int = 10, width: int = 32, dropout: float = 0.3):
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
            )

        w = width
        self.stage1 = nn.Sequential(block(1, w), block(w, w), nn.MaxPool2d(2))  # 14x14
        self.stage2 = nn.Sequential(block(w, 2 * w), block(2 * w, 2 * w), nn.MaxPool2d(2))  # 7x7
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * w * 7 * 7, 256), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate feature maps of a [0,1] batch (stage 1 and stage 2 outputs)."""
        h1 = self.stage1((x - self.mean) / self.std)
        return [h1, self.stage2(h1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1])

    def fuse_batchnorm(self) -> FashionCNN:
        """Fold each eval-mode BatchNorm into its conv: same outputs, faster forward+backward (benchmarks/NOTES.md)."""
        if self.training:
            raise InputError("fuse_batchnorm folds the running statistics: call .eval() first")
        for stage in (self.stage1, self.stage2):
            for i, layer in enumerate(stage):
                if isinstance(layer, nn.Sequential) and isinstance(layer[1], nn.BatchNorm2d):
                    stage[i] = nn.Sequential(fuse_conv_bn_eval(layer[0], layer[1]), layer[2])
        return self


def build_fmnist_cnn(weights: str | Path | None = FMNIST_CNN_WEIGHTS) -> nn.Module:
    """The kit's Fashion-MNIST classifier with BatchNorm folded, with the shipped weights unless `weights=None`."""
    model = FashionCNN()
    if weights is not None:
        load_state_into(model, weights, expect={"architecture": "fmnist-cnn"}, regenerate=FMNIST_CNN_TRAIN_CMD)
    return model.eval().fuse_batchnorm()  # every attack step pays its forward+backward: BN folded away

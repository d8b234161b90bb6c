"""torchvision's ImageNet classifiers (the paper's ResNet-50, DenseNet-121, MobileNet-v2) taking [0,1] images."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from cnr.errors import WeightsError


class Normalized(nn.Module):
    """Wrap a model that expects normalized input so that callers pass [0,1] images."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def torchvision_classifier(arch: str) -> Callable[..., nn.Module]:
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

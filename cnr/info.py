"""`cnr info`: what a bug report needs: versions, device, and where data and weights were found."""
from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import torch

from cnr.version import __version__

_PACKAGES = ("torch", "torchvision", "foolbox", "kornia", "simplejpeg", "pillow", "safetensors", "numpy", "pandas",
             "papermill", "pyautoattack", "cifar-10-model")


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_report() -> str:
    """A multi-line report of the environment and of the data and weights the kit can see."""
    from cnr.data import find_fmnist
    from cnr.data.fmnist import fmnist_dirs
    from cnr.paths import WEIGHTS_DIR, relative

    lines = [f"cnr {__version__} on Python {platform.python_version()} ({platform.platform()})"]
    lines += [f"  {p:<15} {_version(p)}" for p in _PACKAGES]
    cuda = torch.cuda.is_available()
    lines.append(f"device: {'cuda: ' + torch.cuda.get_device_name(0) if cuda else 'cpu'} "
                 f"({torch.get_num_threads()} threads)")
    try:
        lines.append(f"Fashion-MNIST: {find_fmnist(download=False)}")
    except Exception:
        lines.append(f"Fashion-MNIST: not found (searched {', '.join(map(str, fmnist_dirs()))}; "
                     "torchvision will download it when online)")
    weights = sorted(p for p in WEIGHTS_DIR.glob("**/*.safetensors") if not p.name.endswith(".ckpt.safetensors"))
    lines.append(f"shipped weights: {len(weights)} files in {relative(WEIGHTS_DIR)}: "
                 + (", ".join(relative(w.parent if w.parent != WEIGHTS_DIR else w) for w in weights[:1]) + ", ..."
                    if weights else "none found"))
    try:
        from cnr.classifiers.cifar10_keras import cifar10_keras_weights_path

        lines.append(f"cifar10-keras: {cifar10_keras_weights_path()}")
    except Exception as e:
        lines.append(f"cifar10-keras: unavailable ({e})")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(p.name for p in hub.glob("*.pth")) if hub.is_dir() else []
    listed = ", ".join(found) if found else "none (download when online)"
    lines.append(f"torchvision ImageNet weights in {hub}: {listed}")
    return "\n".join(lines)

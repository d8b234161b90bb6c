"""The offline natural photos that ship inside installed packages (scikit-image, scikit-learn, matplotlib).

The tour and the galleries show them; the natural AR-GAN bank never trains on them (it learns from the photo
corpus's train split, cnr.data.photo_corpus), so every one is a held-out photo for it."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

# grace_hopper 600x512.
NATURAL_PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "stereo_motorcycle",
    "china", "flower", "grace_hopper",
)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")


def _photo_uint8(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    from skimage import data as skdata

    img = getattr(skdata, name)()
    return img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disparity)


@lru_cache(maxsize=2)
def _photos(gray: bool) -> dict[str, torch.Tensor]:
    out = {}
    for name in NATURAL_PHOTOS:
        x = torch.from_numpy(np.array(_photo_uint8(name))).permute(2, 0, 1).float().div_(255.0)
        if gray:
            x = (torch.tensor(_LUMA).view(3, 1, 1) * x).sum(0, keepdim=True).clamp_(0, 1)
        out[name] = x
    return out


def natural_photos(gray: bool = False) -> dict[str, torch.Tensor]:
    """The nine offline photos as (C,H,W) float [0,1] (C=1 if gray); copies, so callers may edit them."""
    return {k: v.clone() for k, v in _photos(gray).items()}

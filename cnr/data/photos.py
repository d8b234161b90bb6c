"""The offline natural photos that ship inside installed packages (scikit-image, scikit-learn, matplotlib)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from cnr.errors import InputError, unknown_name

# grace_hopper 600x512.
NATURAL_PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "stereo_motorcycle",
    "china", "flower", "grace_hopper",
)
NATURAL_VAL = ("grace_hopper", "flower")  # validation patches come only from these: never trained on
NATURAL_TRAIN = tuple(n for n in NATURAL_PHOTOS if n not in NATURAL_VAL)
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


def sample_patches(
    n: int,
    size: int,
    gray: bool = False,
    seed: int = 0,
    names: list[str] | tuple[str, ...] | None = None,
    flip: bool = True,
) -> torch.Tensor:
    """Random (n,C,size,size) crops for AR-GAN training, the same for the same seed.

    Photos are drawn uniformly from `names` (default NATURAL_TRAIN; pass NATURAL_VAL for held-out
    validation patches) among those at least `size` px on each side; crops are uniform in position and
    flipped left-right with probability 1/2 when `flip`.
    """
    if not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, int) or size < 1:
        raise InputError(f"size must be a positive int, got {size!r}")
    names = list(NATURAL_TRAIN if names is None else names)
    if not names:
        raise InputError("names is empty; pick photos from " + ", ".join(NATURAL_PHOTOS))
    for nm in names:
        if nm not in NATURAL_PHOTOS:
            raise unknown_name("photo", nm, NATURAL_PHOTOS)
    photos = _photos(gray)
    fits = [nm for nm in names if min(photos[nm].shape[1:]) >= size]
    if not fits:
        smallest = min(min(photos[nm].shape[1:]) for nm in names)
        raise InputError(f"patch size {size} exceeds every chosen photo (the largest fits {smallest} px or less)")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(len(fits), (n,), generator=g)
    pos = torch.rand(n, 2, generator=g, dtype=torch.float64)
    flips = torch.rand(n, generator=g) < 0.5
    out = torch.empty(n, photos[fits[0]].shape[0], size, size)
    ar = torch.arange(size)
    for k, nm in enumerate(fits):
        sel = (which == k).nonzero().squeeze(1)
        if sel.numel() == 0:
            continue
        img = photos[nm]
        h, w = img.shape[1:]
        y0 = (pos[sel, 0] * (h - size + 1)).long().clamp_(max=h - size)
        x0 = (pos[sel, 1] * (w - size + 1)).long().clamp_(max=w - size)
        rows, cols = y0[:, None] + ar, x0[:, None] + ar  # (k, size) each
        out[sel] = img[:, rows[:, :, None], cols[:, None, :]].transpose(0, 1)  # gather all k crops at once
    if flip:
        out = torch.where(flips.view(-1, 1, 1, 1), out.flip(-1), out)
    return out

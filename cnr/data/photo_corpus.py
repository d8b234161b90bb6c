"""A natural-photo corpus from Debian wallpaper packages (offline), split BY PHOTO into train/validation/test.

36 real photographs (no abstract art or renders), picked by eye from three packages that `make data`
installs; the licence is each file's field in /usr/share/doc/<package>/copyright (DEP-5), read when the
inventory was written. The split is fixed in the inventory (25 / 5 / 6); no evaluation photo (test
split) is ever trained on, and Foolbox's samples are not in the corpus at all. See data/README.md.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from cnr import atomic
from cnr.errors import DataNotFoundError, InputError, PathError, unknown_name
from cnr.parsing import check_int
from cnr.paths import cache_dir

SPLITS = ("train", "validation", "test")
PROCESSING = "v1"  # bump when the downscaling changes: cached PNGs live under a folder named after it


class Photo(NamedTuple):
    name: str
    source: str  # Debian source package
    package: str  # the binary package apt installs
    path: str
    size: tuple[int, int]  # (W, H) of the file
    license: str  # the License field of its stanza in /usr/share/doc/<package>/copyright
    split: str


_M, _P, _L = "/usr/share/backgrounds/mate/nature/", "/usr/share/wallpapers/", "/usr/share/backgrounds/"
_MATE = ("mate-backgrounds", "mate-backgrounds")
_PLASMA = ("plasma-workspace-wallpapers", "plasma-workspace-wallpapers")
_LOMIRI = ("lomiri-wallpapers", "lomiri-wallpapers-16.04")
_WIDE = (2560, 1600)


def _plasma(name: str, split: str = "train") -> Photo:
    return Photo(name, *_PLASMA, f"{_P}{name}/contents/images/2560x1600.jpg", _WIDE, "GPL-2+", split)


INVENTORY: tuple[Photo, ...] = (
    Photo("Aqua", *_MATE, _M + "Aqua.jpg", (2560, 1600), "GPL-2+", "train"),
    Photo("Blinds", *_MATE, _M + "Blinds.jpg", (1920, 1200), "GPL-2+", "train"),
    Photo("Dune", *_MATE, _M + "Dune.jpg", (1680, 1050), "GPL-2+", "validation"),
    Photo("FreshFlower", *_MATE, _M + "FreshFlower.jpg", (1600, 1203), "GPL-2+", "train"),
    Photo("Garden", *_MATE, _M + "Garden.jpg", (2560, 1600), "GPL-2+", "train"),
    Photo("GreenMeadow", *_MATE, _M + "GreenMeadow.jpg", (1280, 1024), "GPL-2+", "train"),
    Photo("LadyBird", *_MATE, _M + "LadyBird.jpg", (2560, 1600), "GPL-2+", "test"),
    Photo("RainDrops", *_MATE, _M + "RainDrops.jpg", (1920, 1200), "GPL-2+", "validation"),
    Photo("Storm", *_MATE, _M + "Storm.jpg", (1920, 1280), "GPL-2+", "train"),
    Photo("TwoWings", *_MATE, _M + "TwoWings.jpg", (2560, 1600), "GPL-2+", "train"),
    Photo("Wood", *_MATE, _M + "Wood.jpg", (2560, 1920), "GPL-2+", "train"),
    Photo("YellowFlower", *_MATE, _M + "YellowFlower.jpg", (2560, 1600), "GPL-2+", "test"),
    _plasma("BytheWater"), _plasma("ColdRipple"), _plasma("ColorfulCups", "test"), _plasma("DarkestHour"),
    _plasma("EveningGlow", "test"), _plasma("FallenLeaf"), _plasma("Grey"), _plasma("Kite"),
    _plasma("OneStandsOut"), _plasma("Path", "validation"), _plasma("summer_1am"),
    Photo("Bridge", *_LOMIRI, _L + "Bridge_by_Sander_Klootwijk.jpg", (4352, 2448), "CC-BY-SA-4.0", "train"),
    Photo("Dragonfly", *_LOMIRI, _L + "Dragonfly_by_Bolly.jpg", (4224, 3168), "CC-BY-SA-4.0", "train"),
    Photo("Picture_0B", *_LOMIRI, _L + "Picture_0B_by_freespace.jpg", (2572, 1740), "CC-BY-4.0", "test"),
    Photo("Picture_1A", *_LOMIRI, _L + "Picture_1A_by_freespace.jpg", (1365, 1074), "CC-BY-4.0", "train"),
    Photo("Wine", *_LOMIRI, _L + "Wine_by_Jakkub_Mede.jpg", (2560, 3837), "CC-BY-4.0", "train"),
    Photo("aitzgorri", *_LOMIRI, _L + "aitzgorri_by_Aitzol_Berasategi.jpg", (3088, 2056), "CC-BY-4.0", "validation"),
    Photo("free", *_LOMIRI, _L + "free_by_Peter_Nerlich.jpg", (2880, 2160), "CC-BY-SA-4.0", "train"),
    Photo("friends", *_LOMIRI, _L + "friends_by_Aitzol_Berasategi.jpg", (2056, 3088), "CC-BY-4.0", "test"),
    Photo("greentock", *_LOMIRI, _L + "greentock_by_Peter_Nerlich.jpg", (2880, 2160), "CC-BY-SA-4.0", "train"),
    Photo("life", *_LOMIRI, _L + "life_by_Aitzol_Berasategi.jpg", (3088, 2056), "CC-BY-4.0", "train"),
    Photo("picosdeeuropa", *_LOMIRI, _L + "picosdeeuropa_by_Aitzol_Berasategi.jpg", (3264, 2448), "CC-BY-4.0", "train"),
    Photo("seeding", *_LOMIRI, _L + "seeding_by_Clements_Engelhardt.jpg", (5312, 2988), "CC0-1.0", "validation"),
    Photo("sunset", *_LOMIRI, _L + "sunset_by_Aitzol_Berasategi.jpg", (4272, 2848), "CC-BY-4.0", "train"),
)
PACKAGES = tuple(dict.fromkeys(p.package for p in INVENTORY))


def split_photos(split: str) -> list[Photo]:
    """The inventory entries of one split, in inventory order."""
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    return [p for p in INVENTORY if p.split == split]


def corpus_cache_dir() -> Path:
    """Where the downscaled photos are cached (a folder per processing version)."""
    return cache_dir() / f"photo-corpus-{PROCESSING}"


def _downscaled(photo: Photo, max_side: int) -> np.ndarray:
    """(H,W,3) uint8: the photo with its longer side brought down to max_side (never up)."""
    from PIL import Image

    with Image.open(photo.path) as im:
        if im.size != photo.size:
            raise DataNotFoundError(f"{photo.path} is {im.size[0]}x{im.size[1]}, not {photo.size[0]}x{photo.size[1]}: "
                                    f"another version of {photo.package} than the inventory's")
        im = im.convert("RGB")  # Grey is a grayscale JPEG: three equal channels
        scale = max_side / max(im.size)
        if scale < 1:
            # The files are JPEGs (quality ~80-97): their 8x8-block artifacts are not what a restorer should
            # learn as "clean". An antialiased downscale by >= 2.5x (an integer area reduce, then Lanczos
            # with a 3x margin) averages the blocks and ringing away; point sampling would alias them back.
            target = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
            im = im.resize(target, Image.LANCZOS, reducing_gap=3.0)
        return np.asarray(im).copy()


def corpus_photos(split: str, max_side: int = 512) -> list[torch.Tensor]:
    """The split's photos as float [0,1] (3,H,W), longer side max_side; cached as PNG under $CNR_CACHE."""
    from PIL import Image

    max_side = check_int(max_side, "max_side", 16)
    photos, folder = split_photos(split), corpus_cache_dir() / f"max{max_side}"
    todo = [p for p in photos if not (folder / f"{p.name}.png").is_file()]
    missing = sorted({p.package for p in todo if not Path(p.path).is_file()})
    if missing:
        raise DataNotFoundError(f"photo corpus: {', '.join(missing)} not installed (files under /usr/share missing); "
                                f"install with: sudo apt-get install --no-install-recommends {' '.join(missing)}")
    out = []
    for p in photos:
        png = folder / f"{p.name}.png"
        if p in todo:
            a = _downscaled(p, max_side)
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="PNG")
            atomic.write_bytes(png, buf.getvalue())
        else:
            try:
                with Image.open(png) as im:
                    a = np.asarray(im.convert("RGB")).copy()
            except OSError as e:  # PIL's own "cannot identify image file" is an OSError too
                raise PathError(f"cannot read the cached photo {png} ({e.strerror or e}); delete it (it is made "
                                f"again) or fix the cache folder's permissions") from None
        out.append(torch.from_numpy(a).permute(2, 0, 1).float().div_(255.0))
    return out


def corpus_crops(split: str, size: int = 224, per_photo: int = 4, seed: int = 0, max_side: int = 512) -> torch.Tensor:
    """(len(photos) * per_photo, 3, size, size) crops, photo by photo in inventory order (crop i comes from
    split_photos(split)[i // per_photo]); positions depend only on (seed, photo name), not on the split."""
    size, per_photo = check_int(size, "size", 1), check_int(per_photo, "per_photo", 1)
    crops = []
    for p, img in zip(split_photos(split), corpus_photos(split, max_side)):
        h, w = img.shape[1:]
        if min(h, w) < size:
            raise InputError(f"photo {p.name} is {h}x{w} at max_side={max_side}: too small for {size}-px crops")
        key = int.from_bytes(hashlib.sha256(f"{seed}:{p.name}".encode()).digest()[:8], "little")
        g = torch.Generator().manual_seed(key)
        ys = torch.randint(h - size + 1, (per_photo,), generator=g).tolist()
        xs = torch.randint(w - size + 1, (per_photo,), generator=g).tolist()
        crops += [img[:, y : y + size, x : x + size] for y, x in zip(ys, xs)]
    return torch.stack(crops)


def corpus_patches(split: str, n: int, size: int, seed: int = 0, flip: bool = True, max_side: int = 512
                   ) -> torch.Tensor:
    """(n,3,size,size) random crops of one split's photos (photo uniform, position uniform, left-right flips),
    the same for the same seed: AR-GAN training patches that never come from an evaluation photo."""
    n, size = check_int(n, "n", 1), check_int(size, "size", 1)
    photos = [p for p in _cached_photos(split, max_side) if min(p.shape[1:]) >= size]
    if not photos:
        raise InputError(f"patch size {size} exceeds every {split} photo at max_side={max_side}")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(len(photos), (n,), generator=g).tolist()
    pos = torch.rand(n, 2, generator=g, dtype=torch.float64).tolist()
    flips = (torch.rand(n, generator=g) < 0.5).tolist()
    out = torch.empty(n, 3, size, size)
    for k, (i, (py, px), f) in enumerate(zip(which, pos, flips)):
        img = photos[i]
        h, w = img.shape[1:]
        y, x = min(int(py * (h - size + 1)), h - size), min(int(px * (w - size + 1)), w - size)
        crop = img[:, y : y + size, x : x + size]
        out[k] = crop.flip(-1) if flip and f else crop
    return out


_PHOTO_CACHE: dict[tuple[str, int], list[torch.Tensor]] = {}


def _cached_photos(split: str, max_side: int) -> list[torch.Tensor]:
    """corpus_photos, read once per process (training draws a batch from them every step)."""
    key = (split, max_side)
    if key not in _PHOTO_CACHE:
        _PHOTO_CACHE[key] = corpus_photos(split, max_side)
    return _PHOTO_CACHE[key]

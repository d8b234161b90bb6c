"""Round trips per second of cnr.jpeg.jpeg_roundtrip against a plain single-threaded simplejpeg loop.

Real image content: Fashion-MNIST test images (28x28 gray) and crops of scikit-image photos,
downscaled for 32x32 RGB (CIFAR-like) and at full scale for 224x224 RGB (ImageNet-like).
The two codecs run side by side in every repeat (alternating), and the table reports medians.

    python benchmarks/bench_jpeg.py [--repeats 7] [--qf 50] [--pillow]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from functools import partial

import numpy as np
import simplejpeg
import torch
import torch.nn.functional as F

from cnr.data import load_fmnist
from cnr.jpeg import jpeg_roundtrip, num_threads


def _photos() -> list[torch.Tensor]:
    from skimage import data

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "stereo_motorcycle")
    out = []
    for name in names:
        img = getattr(data, name)()
        img = img[0] if isinstance(img, tuple) else img  # stereo_motorcycle returns (left, right, disparity)
        out.append(torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1).float().div(255))
    return out


def _crops(photos: list[torch.Tensor], n: int, size: int, scale: float, seed: int) -> torch.Tensor:
    """n size x size crops of the photos, each first resized by `scale` (antialiased), on the 1/255 grid."""
    rng = np.random.default_rng(seed)
    small = [
        F.interpolate(p[None], scale_factor=scale, mode="bilinear", antialias=True)[0] if scale != 1 else p
        for p in photos
    ]
    crops = []
    for i in range(n):
        p = small[i % len(small)]
        y, x = rng.integers(0, p.shape[1] - size + 1), rng.integers(0, p.shape[2] - size + 1)
        crops.append(p[:, y : y + size, x : x + size])
    return torch.stack(crops).clamp(0, 1).mul(255).round().div(255)


def _to_uint8(x: torch.Tensor) -> list[np.ndarray]:
    u8 = x.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return [u8[i] for i in range(len(u8))]


def _simplejpeg_loop(images: list[np.ndarray], qf: int) -> None:
    colorspace, subsampling = ("GRAY", "Gray") if images[0].shape[2] == 1 else ("RGB", "420")
    for a in images:
        simplejpeg.decode_jpeg(simplejpeg.encode_jpeg(a, qf, colorspace, subsampling), colorspace)


def _pillow_loop(images: list[np.ndarray], qf: int) -> None:
    from PIL import Image

    for a in images:
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).save(buf, format="JPEG", quality=qf)
        np.asarray(Image.open(buf))


def _one_thread(fn):
    """Run fn with cnr.jpeg limited to one thread, to separate the thread speedup from the float<->uint8 cost."""

    def run():
        old = os.environ.get("CNR_JPEG_THREADS")
        os.environ["CNR_JPEG_THREADS"] = "1"
        try:
            fn()
        finally:
            if old is None:
                del os.environ["CNR_JPEG_THREADS"]
            else:
                os.environ["CNR_JPEG_THREADS"] = old

    return run


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    """Print a table of round trips per second, so speed claims about cnr.jpeg can be checked."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--qf", type=int, default=50)
    ap.add_argument("--pillow", action="store_true", help="also time a single-threaded Pillow loop")
    args = ap.parse_args(argv)

    photos = _photos()
    fmnist, _ = load_fmnist("test", limit=1000)
    cases = [
        ("1000 x 28x28 gray (Fashion-MNIST)", fmnist),
        ("1000 x 32x32 RGB (photo crops, 1/8 scale)", _crops(photos, 1000, 32, 1 / 8, seed=0)),
        ("64 x 224x224 RGB (photo crops)", _crops(photos, 64, 224, 1.0, seed=1)),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jpeg_roundtrip threads: {num_threads()}, cores: {os.cpu_count()}, load average: {load:.2f}, "
          f"QF {args.qf}, {args.repeats} repeats, medians")
    print("columns: jpeg_roundtrip (float in/out, thread pool), the same on 1 thread, a plain single-threaded")
    print("simplejpeg loop on uint8 arrays (no float conversion), ratio = jpeg_roundtrip / simplejpeg loop")
    header = f"{'images':<44}{'roundtrip/s':>13}{'1 thread/s':>12}{'simplejpeg/s':>14}{'ratio':>8}"
    if args.pillow:
        header += f"{'Pillow 1T/s':>14}"
    print(header)
    print("-" * len(header))
    for name, x in cases:
        images = _to_uint8(x)
        runs = {
            "cnr": partial(jpeg_roundtrip, x, args.qf),
            "cnr1": _one_thread(partial(jpeg_roundtrip, x, args.qf)),
            "sj": partial(_simplejpeg_loop, images, args.qf),
        }
        if args.pillow:
            runs["pil"] = partial(_pillow_loop, images, args.qf)
        for fn in runs.values():  # warm-up: thread pool, caches
            fn()
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                times[k].append(_seconds(fn))
        rate = {k: len(x) / statistics.median(v) for k, v in times.items()}
        ratio = rate["cnr"] / rate["sj"]
        row = f"{name:<44}{rate['cnr']:>13,.0f}{rate['cnr1']:>12,.0f}{rate['sj']:>14,.0f}{ratio:>7.2f}x"
        if args.pillow:
            row += f"{rate['pil']:>14,.0f}"
        print(row)


if __name__ == "__main__":
    main()

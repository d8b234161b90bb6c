"""The real JPEG codec on image batches: simplejpeg (default) or Pillow, spread over a thread pool.

Each thread takes a chunk of the batch and does everything for it in GIL-free
numpy and libjpeg calls: range check, float -> uint8, encode, decode, uint8 -> float. (Torch's
own CPU kernels would go through its intra-op thread pool, which on a busy machine makes each
elementwise op far slower (benchmarks/NOTES.md); numpy per chunk runs in the codec's threads instead.)
"""
from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import simplejpeg
import torch

from cnr.checks import FLOAT_DTYPES, check_images
from cnr.environment import jpeg_threads
from cnr.errors import InputError, unknown_name
from cnr.jpeg.quality import check_qfs

MIN_SIZE = 8  # one JPEG block
BACKENDS = ("simplejpeg", "pillow")
# Bounds of the default backend against Pillow (see cnr.jpeg's docstring; tested; the values they
# bound are in benchmarks/NOTES.md).
PILLOW_EXACT_FROM_QF = 96
PILLOW_MAX_BATCH_MEAN_ABS = 1.5 / 255  # a batch of natural images, any QF
PILLOW_MAX_IMAGE_MEAN_ABS = 10 / 255  # any one natural image of >= 16x16 px, any QF
JPEG_MAX_SIDE = 65500  # libjpeg(-turbo)'s JPEG_MAX_DIMENSION: the largest side it will code
MOSAIC_MAX_HEIGHT = JPEG_MAX_SIDE  # a gray mosaic is one JPEG


def _gray_mosaic_codec(src: np.ndarray, dst: np.ndarray, qfs: list[int]) -> None:
    """Code all gray images of one QF as a single tall JPEG: bit-identical to coding each alone.

    A grayscale JPEG codes every 8x8 block independently (DCT, quantization; only the lossless entropy
    coding links blocks), and libjpeg fills a partial edge block by repeating the last column and row.
    So each image, edge-padded to whole blocks and stacked, decodes to exactly what it would alone
    (tested against the per-image loop), with one codec call per QF instead of one per image.
    """
    n, h, w, _ = src.shape
    h8, w8 = -(-h // 8) * 8, -(-w // 8) * 8
    cells = src[..., 0]
    if (h8, w8) != (h, w):
        cells = np.pad(cells, ((0, 0), (0, h8 - h), (0, w8 - w)), mode="edge")
    qarr = np.asarray(qfs)
    per_mosaic = max(1, MOSAIC_MAX_HEIGHT // h8)
    for q in np.unique(qarr).tolist():
        idx = np.flatnonzero(qarr == q)
        for start in range(0, len(idx), per_mosaic):
            part = idx[start : start + per_mosaic]
            tall = cells[part].reshape(len(part) * h8, w8, 1)  # fancy indexing: a fresh contiguous copy
            out = simplejpeg.decode_jpeg(simplejpeg.encode_jpeg(tall, q, "GRAY", "Gray"), "GRAY")
            dst[part] = out.reshape(len(part), h8, w8, 1)[:, :h, :w]


def _simplejpeg_codec(src: np.ndarray, dst: np.ndarray, qfs: list[int]) -> None:
    if src.shape[3] == 1:
        return _gray_mosaic_codec(src, dst, qfs)
    # RGB stays one image per call: 4:2:0 chroma upsampling reads across block edges, so a mosaic would differ
    encode, decode = simplejpeg.encode_jpeg, simplejpeg.decode_jpeg
    for i, q in enumerate(qfs):  # (decode's buffer= argument is slower than this copy)
        dst[i] = decode(encode(src[i], q, "RGB", "420"), "RGB")


def _pillow_codec(src: np.ndarray, dst: np.ndarray, qfs: list[int]) -> None:
    from PIL import Image

    gray = src.shape[3] == 1
    for i, q in enumerate(qfs):
        buf = io.BytesIO()
        if gray:
            Image.fromarray(src[i, :, :, 0], "L").save(buf, format="JPEG", quality=q)
        else:
            Image.fromarray(src[i], "RGB").save(buf, format="JPEG", quality=q, subsampling="4:2:0")
        with Image.open(buf) as im:
            dst[i] = np.asarray(im).reshape(dst.shape[1:])


_CODECS: dict[str, Callable] = {"simplejpeg": _simplejpeg_codec, "pillow": _pillow_codec}
_TOL = 1e-6  # check_images' tolerance on [0, 1]


def _chunk(codec: Callable, xn: np.ndarray, out: np.ndarray, qfs: list[int], start: int, stop: int):
    """Code images start:stop of xn (float NCHW) into out; return their (min, max), NaN if any is NaN."""
    x = xn[start:stop]
    lo, hi = float(x.min()), float(x.max())
    if not (-_TOL <= lo and hi <= 1 + _TOL):  # also false for NaN: leave the error to the caller
        return lo, hi
    q = np.multiply(x, 255, dtype=out.dtype)
    np.rint(q, out=q)  # in [-0, 255] given the range check: no clip needed
    src = np.empty((stop - start, x.shape[2], x.shape[3], x.shape[1]), np.uint8)
    np.copyto(src, q.transpose(0, 2, 3, 1), casting="unsafe")
    dst = np.empty_like(src)
    codec(src, dst, qfs[start:stop])
    np.divide(dst.transpose(0, 3, 1, 2), out.dtype.type(255), out=out[start:stop], dtype=out.dtype)
    return lo, hi


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def num_threads() -> int:
    """Threads the codec spreads a batch over: $CNR_JPEG_THREADS, else the cores this process may use."""
    threads = jpeg_threads()
    if threads is not None:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(num_threads(), thread_name_prefix="cnr-jpeg")
        return _pool


def _forget_pool_after_fork() -> None:
    # A forked child (e.g. a DataLoader worker) inherits the pool object but not its threads.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _check_structure(x: torch.Tensor) -> None:
    """Shape and dtype checks only (no pass over the pixels); check_images words any failure."""
    ok = (
        isinstance(x, torch.Tensor) and x.ndim == 4 and x.shape[0] > 0 and x.is_floating_point()
        and x.shape[1] in (1, 3) and min(x.shape[2], x.shape[3]) >= MIN_SIZE
    )
    if not ok:
        check_images(x, channels=(1, 3), min_size=MIN_SIZE, dtypes=FLOAT_DTYPES)
        raise InputError(f"images must be float NCHW with 1 or 3 channels, got {type(x).__name__}")  # unreachable
    side = -(-max(x.shape[2], x.shape[3]) // 8) * 8  # padded to whole 8x8 blocks, as the codec codes it
    if side > JPEG_MAX_SIDE:
        raise InputError(f"images of {x.shape[2]}x{x.shape[3]} px are past libjpeg's largest side of "
                         f"{JPEG_MAX_SIDE:,} px (after padding to 8-px blocks, {side:,}); resize them first")


def codec_roundtrip(x: torch.Tensor, qf: int | list[int], backend: str) -> torch.Tensor:
    """The real codec on a batch whose QFs check_input has checked (pixels are range-checked in the threads)."""
    if backend not in _CODECS:
        raise unknown_name("JPEG backend", backend, BACKENDS)
    n = x.shape[0]
    qfs = [qf] * n if isinstance(qf, int) else qf
    xd = x.detach()
    if xd.dtype not in (torch.float32, torch.float64):
        xd = xd.float()
    xn = xd.cpu().numpy()
    out = np.empty(xn.shape, np.float64 if xn.dtype == np.float64 else np.float32)
    workers = num_threads()
    # a few chunks per thread balance per-image RGB coding; gray mosaics cost by pixels: one chunk per thread
    n_chunks = 1 if workers == 1 else min(n, workers if xn.shape[1] == 1 else 4 * workers)
    bounds = np.linspace(0, n, n_chunks + 1).astype(int).tolist()
    spans = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    codec = _CODECS[backend]
    if len(spans) == 1:
        ranges = [_chunk(codec, xn, out, qfs, 0, n)]
    else:
        pool = _get_pool()
        ranges = [f.result() for f in [pool.submit(_chunk, codec, xn, out, qfs, a, b) for a, b in spans]]
    lo, hi = np.array(ranges).min(), np.array(ranges).max()  # NaN if any chunk saw NaN
    if not (-_TOL <= lo and hi <= 1 + _TOL):
        check_images(x, channels=(1, 3), min_size=MIN_SIZE, dtypes=FLOAT_DTYPES)  # words the error: NaN, Inf or range
        raise InputError(f"images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")  # unreachable
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


def jpeg_roundtrip(x: torch.Tensor, qf: int | torch.Tensor, *, backend: str = "simplejpeg") -> torch.Tensor:
    """Compress and decompress each image with the real codec, as saving and reloading a .jpg would.

    x: float images in [0, 1], NCHW, C = 1 (coded as a grayscale JPEG) or 3 (coded as YCbCr
    with 4:2:0 chroma subsampling), at least 8x8 px. qf: an int in [1, 100] or an integer
    tensor of shape (N,), one QF per image. Pixels are rounded to 8 bits before coding.
    Returns a tensor of the input's shape, dtype and device, on the 1/255 grid; deterministic.
    The codec is not differentiable: the output is detached (use jpeg_bpda, jpeg_surrogate or
    jpeg_differentiable for gradients).

    backend="simplejpeg" (default, fastest): libjpeg-turbo's TurboJPEG encoder, baseline, standard
    tables. Bit-identical to Pillow from QF 96; below, its fast integer DCT makes the mean absolute
    difference from Pillow at most 1.5/255 over a batch of natural images and 10/255 on any one
    of 16x16 px or more (see cnr.jpeg's docstring). backend="pillow": Pillow's encoder, exactly.
    The batch is spread over a thread pool (libjpeg-turbo releases the GIL); gray images of one QF go
    through the codec as one stacked image, bit-identical to coding each alone (see _gray_mosaic_codec).
    """
    q = check_input(x, qf, values=False)
    return codec_roundtrip(x, q, backend)


def check_input(x: torch.Tensor, qf: int | torch.Tensor, values: bool = True) -> int | list[int]:
    """Check images and QFs once, at the edge; values=False leaves the pixel checks to the codec's threads."""
    if values:
        check_images(x, channels=(1, 3), min_size=MIN_SIZE, dtypes=FLOAT_DTYPES)
    else:
        _check_structure(x)
    return check_qfs(qf, x.shape[0])

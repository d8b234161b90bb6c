"""The real JPEG codec on image batches, QF sampling, and the gradients attacks take through it.

Three ways to differentiate "compress with JPEG", because the codec itself has no gradient:
``jpeg_bpda`` (identity backward, the paper's BPDA), ``jpeg_surrogate`` (real forward, backward
of kornia's differentiable JPEG) and ``jpeg_differentiable`` (kornia's approximation both ways).

Default codec: simplejpeg 1.9 (libjpeg-turbo 3.1.2 through its TurboJPEG API). Against Pillow 12
(the same libjpeg-turbo through libjpeg's API, as in the authors' 2021 code of the defense; the
decoders agree bit for bit, the encoders differ): TurboJPEG uses libjpeg's fast integer forward
DCT below QF 96 and the accurate one from QF 96, Pillow always the accurate one, so

- QF >= 96: bit-identical to Pillow;
- QF < 96: some quantized DCT coefficients round the other way, within the bounds below on
  natural images (``tests/test_jpeg.py`` checks them; the measured differences, per batch,
  image, block and in PSNR, are in benchmarks/NOTES.md).

``backend="pillow"`` gives Pillow's output exactly, more slowly (benchmarks/bench_jpeg.py --pillow).
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
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from cnr.checks import FLOAT_DTYPES, check_images
from cnr.errors import InputError, unknown_name
from cnr.parsing import check_int, check_qf, parse_qf_range, positive_int

MIN_SIZE = 8  # one JPEG block
BACKENDS = ("simplejpeg", "pillow")
# Bounds of the default backend against Pillow (see the module docstring; tested; the values they
# bound are in benchmarks/NOTES.md).
PILLOW_EXACT_FROM_QF = 96
PILLOW_MAX_BATCH_MEAN_ABS = 1.5 / 255  # a batch of natural images, any QF
PILLOW_MAX_IMAGE_MEAN_ABS = 10 / 255  # any one natural image of >= 16x16 px, any QF
# kornia's approximation against the real codec (Pillow), mean absolute error on natural images
# (Fashion-MNIST, photo crops); tested.
KORNIA_MAX_MEAN_ABS = 3 / 255
KORNIA_MAX_MEAN_ABS_QF50 = 2 / 255
KORNIA_BLOCK = 16  # kornia's codec works on 16x16 macroblocks (4:2:0 chroma of 8x8 blocks)

# ---------------------------------------------------------------------------------------------
# Quality factors
# ---------------------------------------------------------------------------------------------


def _check_qf(qf: int | torch.Tensor, n: int) -> int | list[int]:
    """Return one int QF for the batch or a list of n, so that bad QFs fail before any coding."""
    if not isinstance(qf, torch.Tensor):
        return check_qf(qf)
    if qf.dtype == torch.bool or qf.is_floating_point() or qf.is_complex():
        raise InputError(f"qf tensor must have an integer dtype (e.g. torch.long), got {qf.dtype}")
    if qf.ndim == 0:
        return check_qf(int(qf.item()))
    if qf.ndim != 1:
        raise InputError(f"qf tensor must be 1-D with one QF per image, got shape {tuple(qf.shape)}")
    if qf.shape[0] != n:
        raise InputError(
            f"qf tensor has {qf.shape[0]} values but the batch has {n} images; "
            f"pass one QF per image (shape ({n},)) or a single int"
        )
    values = qf.tolist()
    for q in (min(values), max(values)):
        check_qf(q, "qf tensor value")
    return values


def _check_input(x: torch.Tensor, qf: int | torch.Tensor, values: bool = True) -> int | list[int]:
    """Check images and QFs; values=False leaves the pixel checks to the codec's threads."""
    if values:
        check_images(x, channels=(1, 3), min_size=MIN_SIZE, dtypes=FLOAT_DTYPES)
    else:
        _check_structure(x)
    return _check_qf(qf, x.shape[0])


def sample_qf(n: int, qf_range: tuple[int, int] | int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw n QFs uniformly from [lo, hi] inclusive, seeded by generator, for the defense's random compression."""
    n = check_int(n, "n", 0)
    lo, hi = parse_qf_range(qf_range, "qf_range", text=False)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    device = generator.device if generator is not None else "cpu"
    return torch.randint(lo, hi + 1, (n,), generator=generator, device=device, dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# The real codec. Each thread takes a chunk of the batch and does everything for it in GIL-free
# numpy and libjpeg calls: range check, float -> uint8, encode, decode, uint8 -> float. (Torch's
# own CPU kernels would go through its intra-op thread pool, which on a busy machine makes each
# elementwise op far slower (benchmarks/NOTES.md); numpy per chunk runs in the codec's threads instead.)
# ---------------------------------------------------------------------------------------------


JPEG_MAX_SIDE = 65500  # libjpeg(-turbo)'s JPEG_MAX_DIMENSION: the largest side it will code


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
    per_mosaic = max(1, JPEG_MAX_SIDE // h8)
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
    env = os.environ.get("CNR_JPEG_THREADS")
    if env:
        return positive_int(env, "CNR_JPEG_THREADS")
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


def _roundtrip(x: torch.Tensor, qf: int | list[int], backend: str) -> torch.Tensor:
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
    of 16x16 px or more (see the module docstring). backend="pillow": Pillow's encoder, exactly.
    The batch is spread over a thread pool (libjpeg-turbo releases the GIL); gray images of one QF go
    through the codec as one stacked image, bit-identical to coding each alone (see _gray_mosaic_codec).
    """
    q = _check_input(x, qf, values=False)
    return _roundtrip(x, q, backend)


# ---------------------------------------------------------------------------------------------
# Kornia's differentiable JPEG (Reich et al. 2024)
# ---------------------------------------------------------------------------------------------


def _kornia_jpeg(x: torch.Tensor, qf: int | list[int]) -> torch.Tensor:
    from kornia.enhance import jpeg_codec_differentiable

    n, c, h, w = x.shape
    quality = torch.tensor([qf] if isinstance(qf, int) else qf, dtype=torch.float32, device=x.device)
    pad_h, pad_w = -h % KORNIA_BLOCK, -w % KORNIA_BLOCK
    if pad_h or pad_w:  # like libjpeg: extend the bottom and right edges, then crop back
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    if c == 1:  # R = G = B gives Y = gray and flat chroma, i.e. a grayscale JPEG
        x = x.expand(-1, 3, -1, -1)
    y = jpeg_codec_differentiable(x, quality)
    if c == 1:
        y = y.mean(dim=1, keepdim=True)
    return y[:, :, :h, :w]


def jpeg_differentiable(x: torch.Tensor, qf: int | torch.Tensor) -> torch.Tensor:
    """Kornia's differentiable JPEG approximation, forward and backward, for fully differentiable attacks.

    Same input contract as jpeg_roundtrip; any H and W (edges are replicated up to a multiple
    of 16 and cropped back); gray images are coded as R = G = B and averaged back. Output is
    continuous (not on the 1/255 grid); mean absolute error against the real codec on natural
    images is about 1.2/255 at QF 50 and below 3/255 at any QF (tested).
    """
    q = _check_input(x, qf)
    return _kornia_jpeg(x, q)


class _JpegBPDA(torch.autograd.Function):
    """Real JPEG forward, identity backward (Athalye et al.'s BPDA)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, qf, backend: str) -> torch.Tensor:
        return _roundtrip(x, qf, backend)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


class _JpegSurrogate(torch.autograd.Function):
    """Real JPEG forward, backward through kornia's differentiable JPEG at the same input."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, qf, backend: str) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.qf = qf
        return _roundtrip(x, qf, backend)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (gx,) = torch.autograd.grad(_kornia_jpeg(xg, ctx.qf), xg, grad)
        return gx, None, None


def jpeg_bpda(x: torch.Tensor, qf: int | torch.Tensor, *, backend: str = "simplejpeg") -> torch.Tensor:
    """jpeg_roundtrip forward, identity backward: the straight-through gradient the paper's BPDA attack uses."""
    q = _check_input(x, qf, values=False)
    return _JpegBPDA.apply(x, q, backend)


def jpeg_surrogate(x: torch.Tensor, qf: int | torch.Tensor, *, backend: str = "simplejpeg") -> torch.Tensor:
    """jpeg_roundtrip forward, kornia's differentiable-JPEG vector-Jacobian product backward: a better BPDA."""
    q = _check_input(x, qf, values=False)
    return _JpegSurrogate.apply(x, q, backend)

"""cnr.jpeg: the real codec against Pillow, per-image QFs, QF sampling, the three gradients, bad input."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cnr import jpeg as J
from cnr.errors import InputError
from cnr.jpeg import codec, jpeg_bpda, jpeg_differentiable, jpeg_roundtrip, jpeg_surrogate, sample_qf


def _photo_crops(n: int, size: int, seed: int) -> torch.Tensor:
    """n RGB size x size crops of scikit-image photos, on the 1/255 grid."""
    from skimage import data

    photos = [torch.from_numpy(im).permute(2, 0, 1) for im in (data.astronaut(), data.coffee(), data.chelsea())]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = rng.integers(0, p.shape[1] - size), rng.integers(0, p.shape[2] - size)
        out.append(p[:, y : y + size, x : x + size])
    return torch.stack(out).float().div(255)


@pytest.fixture(scope="module")
def rgb() -> torch.Tensor:
    return _photo_crops(24, 32, seed=0)


@pytest.fixture(scope="module")
def gray() -> torch.Tensor:
    from cnr.data import load_fmnist

    x, _ = load_fmnist("test", limit=32)
    return x


@pytest.fixture(params=["gray", "rgb"])
def images(request, gray, rgb) -> torch.Tensor:
    return {"gray": gray, "rgb": rgb}[request.param]


def pillow_reference(x: torch.Tensor, qf: int) -> torch.Tensor:
    """Save each image with Pillow's defaults (4:2:0 for RGB) and load it back, as the authors' 2021 code does."""
    u8 = x.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for a in u8:
        buf = io.BytesIO()
        Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).save(buf, format="JPEG", quality=qf)
        out.append(np.asarray(Image.open(buf)).reshape(a.shape))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div(255)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


# ---------------------------------------------------------------------------------------------
# The real codec against Pillow
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qf", [10, 50, 90])
def test_pillow_backend_is_bit_identical_to_pillow(images, qf):
    assert torch.equal(jpeg_roundtrip(images, qf, backend="pillow"), pillow_reference(images, qf))


@pytest.mark.parametrize("qf", [5, 20, 50, 75, 95])
def test_default_backend_within_stated_bound_of_pillow(images, qf):
    diff = (jpeg_roundtrip(images, qf) - pillow_reference(images, qf)).abs()
    assert diff.mean() <= J.PILLOW_MAX_BATCH_MEAN_ABS
    assert diff.flatten(1).mean(1).max() <= J.PILLOW_MAX_IMAGE_MEAN_ABS


@pytest.mark.parametrize("qf", [J.PILLOW_EXACT_FROM_QF, 98, 100])
def test_default_backend_bit_identical_to_pillow_at_high_qf(images, qf):
    assert torch.equal(jpeg_roundtrip(images, qf), pillow_reference(images, qf))


def test_default_backend_does_differ_below_qf96(rgb):
    # The docstring says the encoders differ below QF 96 (fast vs accurate DCT). If this fails, a new
    # simplejpeg codes like Pillow: drop the bound from the docstring and make the bound tests exact.
    assert not torch.equal(jpeg_roundtrip(rgb, 50), pillow_reference(rgb, 50))


@pytest.mark.parametrize("shape", [(3, 3, 37, 45), (2, 1, 8, 8), (2, 3, 8, 23)])
def test_odd_sizes_match_pillow(shape):
    x = _photo_crops(shape[0], 64, seed=1)[:, :, : shape[2], : shape[3]]
    x = x if shape[1] == 3 else x.mean(1, keepdim=True).mul(255).round().div(255)
    y = jpeg_roundtrip(x, 30, backend="pillow")
    assert y.shape == x.shape
    assert torch.equal(y, pillow_reference(x, 30))
    assert (jpeg_roundtrip(x, 30) - y).abs().mean() <= J.PILLOW_MAX_BATCH_MEAN_ABS * 4  # few pixels: looser


# ---------------------------------------------------------------------------------------------
# Contract: per-image QFs, quantization, dtype/device/shape, determinism, threads
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", J.BACKENDS)
def test_per_image_qf_equals_one_by_one(images, backend):
    qf = torch.tensor([5, 95, 40, 60] * (len(images) // 4))
    y = jpeg_roundtrip(images, qf, backend=backend)
    for i in range(len(images)):
        assert torch.equal(y[i : i + 1], jpeg_roundtrip(images[i : i + 1], int(qf[i]), backend=backend)), i
    assert not torch.equal(y, jpeg_roundtrip(images, 40, backend=backend))  # the QFs were used


def _simplejpeg_one_by_one(x: torch.Tensor, qfs: list[int]) -> torch.Tensor:
    import simplejpeg

    u8 = x.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    out = [simplejpeg.decode_jpeg(simplejpeg.encode_jpeg(a, q, "GRAY", "Gray"), "GRAY") for a, q in zip(u8, qfs)]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div(255)


@pytest.mark.parametrize("size", [(28, 28), (8, 8), (17, 30), (9, 64)])
def test_gray_mosaic_is_bit_identical_to_coding_each_image_alone(gray, size, monkeypatch):
    x = torch.nn.functional.interpolate(gray, size=size, mode="bilinear").clamp(0, 1).mul(255).round().div(255)
    qf = torch.randint(1, 101, (len(x),), generator=torch.Generator().manual_seed(size[1]))
    qf[: len(x) // 2] = 50  # one large QF group and many small ones
    want = _simplejpeg_one_by_one(x, qf.tolist())
    assert torch.equal(jpeg_roundtrip(x, qf), want)
    monkeypatch.setattr(codec, "MOSAIC_MAX_HEIGHT", 3 * 8 * -(-size[0] // 8))  # at most 3 images per mosaic
    assert torch.equal(jpeg_roundtrip(x, qf), want)


def test_gray_mosaic_stays_within_libjpeg_size_limit(monkeypatch):
    monkeypatch.setenv("CNR_JPEG_THREADS", "1")  # one chunk: 2,100 28x28 images of one QF need two mosaics
    x = torch.rand(2100, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = jpeg_roundtrip(x, 40)
    assert torch.equal(y[-3:], jpeg_roundtrip(x[-3:], 40))


def test_output_is_quantized_detached_and_shaped_like_input(images):
    x = images.clone().requires_grad_(True)
    y = jpeg_roundtrip(x, 50)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device and y.is_contiguous()
    assert not y.requires_grad
    assert torch.equal(y, y.mul(255).round().div(255))
    assert 0 <= y.min() and y.max() <= 1
    assert torch.equal(x.detach(), images)  # input untouched


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes(rgb, dtype):
    y = jpeg_roundtrip(rgb.to(dtype), 50)
    assert y.dtype == dtype
    levels = jpeg_roundtrip(rgb, 50).mul(255).round()
    assert torch.equal(y.double().mul(255).round(), levels.double())  # the same 8-bit values
    if dtype == torch.float64:
        assert torch.equal(y, levels.double().div(255))  # k/255 rounded once, in float64


def test_unquantized_input_is_rounded_to_8_bits(rgb):
    wobble = (torch.rand(rgb.shape, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.9 / 255
    x = (rgb + wobble).clamp(0, 1)  # every pixel still rounds to the same 8-bit value
    assert torch.equal(jpeg_roundtrip(x, 50), jpeg_roundtrip(rgb, 50))


def test_non_contiguous_input(rgb):
    x = rgb.to(memory_format=torch.channels_last)
    assert torch.equal(jpeg_roundtrip(x, 50), jpeg_roundtrip(rgb, 50))


def test_deterministic_and_independent_of_thread_count(rgb, monkeypatch):
    x = torch.cat([rgb, rgb.flip(-1)])[:37]  # 37 images: uneven chunks
    qf = sample_qf(len(x), (10, 90), torch.Generator().manual_seed(3))
    y = jpeg_roundtrip(x, qf)
    assert torch.equal(y, jpeg_roundtrip(x, qf))
    for threads in ("1", "3"):
        monkeypatch.setenv("CNR_JPEG_THREADS", threads)
        assert J.num_threads() == int(threads)
        assert torch.equal(y, jpeg_roundtrip(x, qf))


@pytest.mark.parametrize("threads", ["many", "0", "-2", "", "5000"])
def test_bad_thread_count_env(monkeypatch, rgb, threads):
    monkeypatch.setenv("CNR_JPEG_THREADS", threads)
    with pytest.raises(InputError, match="CNR_JPEG_THREADS: expected an integer in \\[1, 1024\\]"):
        jpeg_roundtrip(rgb, 50)


def test_qf100_is_close_to_input(gray, rgb):
    g = jpeg_roundtrip(gray, 100) - gray
    assert g.abs().mean() < 0.2 / 255 and g.abs().max() <= 2 / 255
    c = jpeg_roundtrip(rgb, 100) - rgb  # 4:2:0 chroma subsampling costs colour edges
    assert c.abs().mean() < 2.5 / 255 and psnr(rgb + c, rgb) > 35


@pytest.mark.parametrize("qf, levels, db", [(10, 1796282, 21.4492), (40, 1788690, 27.0017)])
def test_default_codec_output_is_pinned(gray, qf, levels, db):
    # Every result of the kit goes through this codec: a libjpeg-turbo/simplejpeg upgrade that changed its output
    # would move them all. The 8-bit levels of 32 Fashion-MNIST images are integers (exact); PSNR to 1e-3 dB.
    y = jpeg_roundtrip(gray, qf)
    assert int(y.mul(255).round().sum().item()) == levels
    assert psnr(y, gray) == pytest.approx(db, abs=1e-3)


def test_lower_qf_gives_lower_psnr():
    x = _photo_crops(6, 64, seed=2)
    values = [psnr(jpeg_roundtrip(x, qf), x) for qf in (5, 10, 30, 50, 70, 90)]
    assert values == sorted(values) and values[-1] - values[0] > 10, values


# ---------------------------------------------------------------------------------------------
# sample_qf
# ---------------------------------------------------------------------------------------------


def test_sample_qf_covers_the_inclusive_range_only():
    q = sample_qf(3000, (20, 23), torch.Generator().manual_seed(0))
    assert q.dtype == torch.long and q.shape == (3000,)
    assert set(q.tolist()) == {20, 21, 22, 23}
    counts = torch.bincount(q - 20).float()
    assert (counts / 3000 - 0.25).abs().max() < 0.04  # roughly uniform


def test_sample_qf_is_seeded():
    a = sample_qf(100, (1, 100), torch.Generator().manual_seed(7))
    assert torch.equal(a, sample_qf(100, (1, 100), torch.Generator().manual_seed(7)))
    assert not torch.equal(a, sample_qf(100, (1, 100), torch.Generator().manual_seed(8)))
    g = torch.Generator().manual_seed(7)
    first, second = sample_qf(50, (1, 100), g), sample_qf(50, (1, 100), g)
    assert torch.equal(torch.cat([first, second]), a)  # the generator advances


def test_sample_qf_fixed_and_degenerate_ranges():
    assert torch.equal(sample_qf(5, 40, None), torch.full((5,), 40))
    assert torch.equal(sample_qf(5, (60, 60), None), torch.full((5,), 60))
    assert sample_qf(0, (1, 100), None).shape == (0,)


@pytest.mark.parametrize(
    "n, qf_range, match",
    [
        (5, (60, 20), "lo <= hi"),
        (5, (0, 20), r"\[1, 100\], got 0"),
        (5, (20, 101), "101"),
        (5, (20.5, 30), "float"),
        (5, (10, 20, 30), "got 3 values"),
        (5, "20,60", "got str"),
        (5, True, "bool"),
        (-1, (10, 20), "n: expected an integer >= 0, got -1"),
        (2.0, (10, 20), "n: expected an integer >= 0, got float 2.0"),
    ],
)
def test_sample_qf_bad_input(n, qf_range, match):
    with pytest.raises(InputError, match=match):
        sample_qf(n, qf_range, None)


def test_sample_qf_rejects_a_seed_for_a_generator():
    with pytest.raises(InputError, match="torch.Generator"):
        sample_qf(5, (10, 20), 0)


# ---------------------------------------------------------------------------------------------
# Gradients: BPDA, kornia surrogate, kornia approximation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("qf", [50, "per-image"])
def test_bpda_forward_is_the_codec_and_backward_is_identity(images, qf):
    qf = torch.arange(len(images)) % 90 + 5 if qf == "per-image" else qf
    x = images.clone().requires_grad_(True)
    y = jpeg_bpda(x, qf)
    assert torch.equal(y, jpeg_roundtrip(images, qf))
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    y.backward(g)
    assert torch.equal(x.grad, g)


@pytest.mark.parametrize("qf", [30, "per-image"])
def test_surrogate_forward_is_the_codec_and_backward_is_kornia_vjp(images, qf):
    images = images[:8]  # kornia's backward is the slow part
    qf = torch.arange(len(images)) % 90 + 5 if qf == "per-image" else qf
    x = images.clone().requires_grad_(True)
    y = jpeg_surrogate(x, qf)
    assert torch.equal(y, jpeg_roundtrip(images, qf))
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    y.backward(g)
    assert torch.isfinite(x.grad).all() and x.grad.abs().mean() > 0.01
    assert (x.grad - g).abs().mean() > 0.1 * g.abs().mean()  # not the identity
    x2 = images.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(jpeg_differentiable(x2, qf), x2, g)
    torch.testing.assert_close(x.grad, expected)


def test_surrogate_gradient_drives_an_attack_step(rgb):
    # The surrogate's gradient must point somewhere useful: a step along it lowers the loss it was taken of.
    rgb = rgb[:8]
    x = rgb.clone().requires_grad_(True)
    target = rgb.flip(-1)
    loss = (jpeg_surrogate(x, 50) - target).pow(2).sum()
    loss.backward()
    stepped = (rgb - 0.5 / 255 * x.grad.sign()).clamp(0, 1)
    before = (jpeg_differentiable(rgb, 50) - target).pow(2).sum()
    assert (jpeg_differentiable(stepped, 50) - target).pow(2).sum() < before


@pytest.mark.parametrize("qf, bound", [(5, J.KORNIA_MAX_MEAN_ABS), (20, J.KORNIA_MAX_MEAN_ABS),
                                       (50, J.KORNIA_MAX_MEAN_ABS_QF50), (90, J.KORNIA_MAX_MEAN_ABS)])
def test_differentiable_is_close_to_the_real_codec(images, qf, bound):
    y = jpeg_differentiable(images, qf)
    assert y.shape == images.shape  # 28x28 is padded to 32x32 and cropped back
    assert (y - pillow_reference(images, qf)).abs().mean() < bound


def test_differentiable_per_image_qf_and_gradient(gray):
    gray = gray[:8]
    qf = torch.tensor([10, 90] * (len(gray) // 2))
    x = gray.clone().requires_grad_(True)
    y = jpeg_differentiable(x, qf)
    one_by_one = torch.cat([jpeg_differentiable(gray[:1], 10), jpeg_differentiable(gray[1:2], 90)])
    torch.testing.assert_close(y[:2], one_by_one)
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_differentiable_gray_is_a_grayscale_jpeg(gray):
    # R = G = B through kornia's colour codec must give what a 3-channel gray image gives, averaged.
    gray = gray[:8]
    y = jpeg_differentiable(gray, 50)
    y3 = jpeg_differentiable(gray.expand(-1, 3, -1, -1).contiguous(), 50)
    torch.testing.assert_close(y, y3.mean(1, keepdim=True))
    torch.testing.assert_close(y3[:, 0], y3[:, 2], atol=1 / 255, rtol=0)  # chroma stays flat


# ---------------------------------------------------------------------------------------------
# Bad input: each case names its problem, for every entry point
# ---------------------------------------------------------------------------------------------

ENTRY_POINTS = [jpeg_roundtrip, jpeg_bpda, jpeg_surrogate, jpeg_differentiable]
_ok = torch.full((4, 3, 16, 16), 0.5)


def _with(value, index=(3, 0, 5, 7)):
    x = _ok.clone()
    x[index] = value
    return x


BAD_INPUTS = {
    "float qf": (_ok, 40.5, ["qf", "integer", "40.5"]),
    "qf 0": (_ok, 0, ["qf", "[1, 100]", "got 0"]),
    "qf 101": (_ok, 101, ["qf", "[1, 100]", "101"]),
    "bool qf": (_ok, True, ["qf", "integer", "bool"]),
    "string qf": (_ok, "50", ["qf", "integer", "str"]),
    "qf tensor too short": (_ok, torch.tensor([50, 60, 70]), ["3 values", "4 images"]),
    "qf tensor float": (_ok, torch.tensor([50.0] * 4), ["qf", "integer dtype", "float32"]),
    "qf tensor 2-D": (_ok, torch.full((4, 1), 50), ["qf", "1-D"]),
    "qf tensor out of range": (_ok, torch.tensor([50, 0, 70, 80]), ["qf tensor", "[1, 100]", "got 0"]),
    "NaN": (_with(float("nan")), 50, ["NaN"]),
    "Inf": (_with(float("inf")), 50, ["Inf"]),
    "above 1": (_with(1.5), 50, ["[0, 1]", "1.5"]),
    "below 0": (_with(-0.25), 50, ["[0, 1]", "-0.25"]),
    "0-255 range": (_ok * 255, 50, ["[0, 1]", "divide by 255"]),
    "2 channels": (_ok[:, :2], 50, ["2 channels", "1 or 3"]),
    "4 channels": (torch.full((4, 4, 16, 16), 0.5), 50, ["4 channels", "1 or 3"]),
    "too small": (_ok[:, :, :7, :], 50, ["7x16", "at least 8x8"]),
    "empty batch": (_ok[:0], 50, ["empty batch"]),
    "3-D": (_ok[0], 50, ["NCHW", "4 dims"]),
    "uint8": (torch.full((4, 3, 16, 16), 128, dtype=torch.uint8), 50, ["float", "uint8"]),
    "numpy array": (_ok.numpy(), 50, ["torch.Tensor", "ndarray"]),
}


@pytest.mark.parametrize("fn", ENTRY_POINTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_the_problem(fn, case, monkeypatch):
    monkeypatch.setenv("CNR_JPEG_THREADS", "2")  # NaN in the last image: the chunked check must catch it
    x, qf, words = BAD_INPUTS[case]
    with pytest.raises(InputError) as err:
        fn(x, qf)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.parametrize("fn", [jpeg_roundtrip, jpeg_bpda, jpeg_surrogate], ids=lambda f: f.__name__)
def test_unknown_backend(fn):
    with pytest.raises(InputError, match="unknown JPEG backend 'opencv'.*pillow, simplejpeg"):
        fn(_ok, 50, backend="opencv")


def test_values_within_check_tolerance_are_accepted():
    x = _with(1 + 1e-7, (0, 0, 0, 0))
    x[1, 0, 0, 0] = -1e-7
    y = jpeg_roundtrip(x, 90)
    assert 0 <= y.min() and y.max() <= 1


def test_past_libjpegs_largest_side_refused():
    """65,497 px pads to 65,504 > 65,500: refused before coding, naming the limit (not libjpeg's own error)."""
    with pytest.raises(InputError, match=r"65497x8.*65,500"):
        jpeg_roundtrip(torch.rand(1, 1, 65497, 8), 50)
    assert jpeg_roundtrip(torch.rand(1, 1, 65496, 8), 50).shape == (1, 1, 65496, 8)

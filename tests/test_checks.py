"""cnr.checks: images, labels, devices, counts and output folders are checked at the public entries with one
clear InputError; image values once at the entry, structure everywhere."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from helpers import mentions, shipped_fmnist_models

from cnr.checks import (
    check_count,
    check_images,
    check_labels,
    check_one_device,
    check_writable,
    images_checked,
    resolve_device,
    values_checked,
)
from cnr.errors import InputError
from cnr.paths import WEIGHTS_DIR


@pytest.fixture(scope="module")
def defense():
    from cnr import CompressRestore, RestorerBank

    return CompressRestore(RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick"), (20, 60), 3, mode="dynamic")


@pytest.fixture
def image_passes(monkeypatch):
    """Counts full-tensor finiteness passes over image batches (the first of check_images' value checks)."""
    seen = []
    isfinite = torch.isfinite

    def counting(t):
        if t.ndim == 4:
            seen.append(tuple(t.shape))
        return isfinite(t)

    monkeypatch.setattr(torch, "isfinite", counting)
    return seen


def test_values_are_skipped_inside_only_and_structure_is_always_checked():
    bad = torch.full((2, 1, 8, 8), float("nan"))
    with pytest.raises(InputError, match="NaN or Inf"):
        check_images(bad)
    with images_checked():
        assert values_checked()
        assert check_images(bad) is bad
        with pytest.raises(InputError, match="must be NCHW"):
            check_images(bad[0])
        with pytest.raises(InputError, match="got dtype float64"):
            check_images(bad.double())
    assert not values_checked()
    with pytest.raises(InputError, match="lie in"):
        check_images(bad.nan_to_num(2.0))


@pytest.mark.parametrize("shape", [(2, 32, 32, 3), (2, 28, 28, 1), (2, 224, 224, 4)])
def test_channels_last_images_are_refused_with_the_permute_that_fixes_them(shape, defense):
    x = torch.rand(shape)
    shown = re.escape(str(shape))
    with pytest.raises(InputError, match=rf"look channels last \(N, H, W, C\), got shape {shown}.*permute"):
        check_images(x)
    with pytest.raises(InputError, match=r"defense input look channels last.*x\.permute\(0, 3, 1, 2\)"):
        defense(x)
    assert check_images(x.permute(0, 3, 1, 2).contiguous()) is not None  # the fix it names goes through


def test_the_flag_is_reset_after_an_error():
    with pytest.raises(RuntimeError), images_checked():
        raise RuntimeError("inside")
    assert not values_checked()


def test_defended_forward_checks_its_input_once(defense, image_passes):
    x = torch.rand(4, 1, 28, 28)
    defense(x)
    assert image_passes == [(4, 1, 28, 28)]  # the defense's entry; none in its 3 restore calls


def test_a_direct_call_still_gets_the_kits_errors(defense):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(InputError, match=r"defense input contain NaN or Inf: 1 of"):
        defense(torch.cat([x[:1], x[1:].index_fill(2, torch.tensor([3]), float("nan")).index_fill(3, torch.tensor(
            list(range(1, 28))), 0.5)]))
    with pytest.raises(InputError, match=r"defense input must lie in \[0, 1\]"):
        defense(x * 255)
    with pytest.raises(InputError, match="images to restore must lie in"):
        defense.bank.restore(x * 255, torch.full((2,), 40))
    with pytest.raises(InputError, match=r"per-image QFs must be integers in 1..100"):
        defense.bank.restore(x, torch.tensor([40, 0]))


def test_queries_inside_run_attack_check_structure_only(defense, image_passes):
    from cnr import Defended, load_classifier
    from cnr.attacks import run_attack

    model = Defended(defense, load_classifier("fmnist-cnn"))
    x = torch.rand(3, 1, 28, 28)
    image_passes.clear()  # the classifier's weights are checked when it loads
    res = run_attack("square", model, x, torch.zeros(3, dtype=torch.int64), 0.1, n_queries=5)
    assert res.n_forward > 3
    assert image_passes == [(3, 1, 28, 28)]  # run_attack's own entry check, none per query


@pytest.fixture(scope="module")
def models():
    return shipped_fmnist_models()


X = torch.rand(2, 1, 28, 28)
Y = torch.zeros(2, dtype=torch.int64)


def _imgs(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0)).to(dtype)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.rand(3, 28, 28), "NCHW"),
        (torch.rand(0, 1, 28, 28), "empty batch"),
        ((torch.rand(2, 1, 28, 28) * 255).to(torch.uint8), "float"),
        (torch.rand(2, 1, 28, 28) * 255, r"\[0, 1\]"),
        (torch.full((2, 1, 28, 28), float("nan")), "NaN"),
        (torch.rand(2, 2, 28, 28), "channels"),
        (torch.rand(2, 1, 28, 28, device="meta"), "meta device"),
    ],
)
def test_check_images_names_the_problem(x, message):
    with pytest.raises(InputError, match=message):
        check_images(x, channels=(1, 3))


def test_check_labels():
    check_labels(torch.tensor([0, 9]), 2, 10)
    with pytest.raises(InputError, match="int64"):
        check_labels(torch.tensor([0.0, 1.0]), 2, 10)
    with pytest.raises(InputError, match=r"\[0, 9\]"):
        check_labels(torch.tensor([0, 10]), 2, 10)
    with pytest.raises(InputError, match="shape"):
        check_labels(torch.tensor([0, 1, 2]), 2, 10)
    with pytest.raises(InputError, match=r"\[0, \.\.\.\], got \[-1, 1\]"):  # no class count known: still >= 0
        check_labels(torch.tensor([-1, 1]), 2)
    with pytest.raises(InputError, match="meta device"):
        check_labels(torch.tensor([0, 1], device="meta"), 2)


@pytest.mark.parametrize("case, needle", [  # which input, and the dtype or range it was given
    ("defense uint8", ("defense input", "uint8", "x.float() / 255")),
    ("defense float64", ("defense input", "float64")),
    ("restore float16", ("images to restore", "float16")),
    ("predict int64", ("images to classify", "int64")),
    ("attack float labels", ("labels", "torch.float32")),
    ("attack 0..255 images", ("attack images", "[0, 1]")),
])
def test_each_public_entry_refuses_images_of_another_dtype_or_range(models, case, needle):
    from cnr import predict, run_attack

    bank, clf, cr = models
    calls = {
        "defense uint8": lambda: cr((X * 255).to(torch.uint8)),
        "defense float64": lambda: cr(X.double()),
        "restore float16": lambda: bank.restore(X.half(), 10),
        "predict int64": lambda: predict(clf, (X * 255).long()),
        "attack float labels": lambda: run_attack("pgd", clf, X, Y.float(), 0.1, steps=1),
        "attack 0..255 images": lambda: run_attack("pgd", clf, X * 255, Y, 0.1, steps=1),
    }
    with pytest.raises(InputError) as e:
        calls[case]()
    assert mentions(str(e.value), needle), str(e.value)


@pytest.mark.usefixtures("scratch_results")
def test_training_devices(tmp_path):
    from cnr.argan.train import train_argan
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    with pytest.raises(InputError, match="device 'tpu'"):
        train_fmnist_cnn(out_path=tmp_path / "c.safetensors", epochs=1, device="tpu")
    with pytest.raises(InputError, match="device 'cuda:abc'"):
        train_argan(10, pretrain_steps=1, gan_steps=0, device="cuda:abc", progress=False)


@pytest.mark.parametrize("device", ["CPU", "meta", "cuda:-1"])
def test_device_strings(device):
    from cnr.checks import resolve_device

    with pytest.raises(InputError, match=f"'{device}'"):
        resolve_device(device)


@pytest.mark.parametrize("device, needle", [("gpu0", "'gpu0'"), ("tpu", "'tpu'"), (3, "device.*int"),
                                            ("cuda:7", "cuda")])
def test_model_loaders_resolve_their_device(device, needle):
    import torch

    from cnr import RestorerBank, load_classifier
    from cnr.argan.bank import load_generator
    from cnr.errors import InputError
    from cnr.paths import WEIGHTS_DIR

    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    for load in (lambda: load_classifier("fmnist-cnn", device=device),
                 lambda: load_generator(WEIGHTS_DIR / "argan-fmnist-quick" / "qf05.safetensors", device=device),
                 lambda: RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick", device=device)):
        with pytest.raises(InputError, match=needle):
            load()


@pytest.mark.parametrize("dtype, fix", [(torch.float64, r"x\.float\(\)"), (torch.float16, r"x\.float\(\)"),
                                        (torch.bfloat16, r"x\.float\(\)")])
def test_check_images_refuses_other_floats_and_says_how_to_convert(dtype, fix):
    with pytest.raises(InputError, match=rf"float32 .*got dtype {str(dtype)[6:]}; convert with {fix}$"):
        check_images(_imgs(2, 1, 8, 8, dtype=dtype))
    check_images(_imgs(2, 1, 8, 8, dtype=dtype), dtypes=(torch.float32, dtype))  # callers that handle them opt in


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64, torch.bool])
def test_check_images_refuses_integer_pixels(dtype):
    x = (_imgs(2, 3, 8, 8) * 255).to(dtype)
    fix = r"x\.float\(\) / 255" if dtype == torch.uint8 else r"x\.float\(\)"
    with pytest.raises(InputError, match=rf"got dtype {str(dtype)[6:]}; convert with {fix}"):
        check_images(x)


def test_check_images_counts_nan_and_inf():
    x = _imgs(2, 1, 4, 4)
    x[0, 0, 0, :3] = float("nan")
    x[1, 0, 1, 1] = float("inf")
    with pytest.raises(InputError, match=r"4 of 32 .*3 NaN, 1 Inf"):
        check_images(x)


def test_check_images_against_the_models_declared_input():
    x = _imgs(2, 1, 28, 28)
    with pytest.raises(InputError, match=r"3-channel 224x224.*1-channel 28x28"):
        check_images(x, channels=3, size=224)
    with pytest.raises(InputError, match=r"28x28.*32x48.*torch\.nn\.functional\.interpolate"):  # and how to resize
        check_images(x, size=(32, 48))
    with pytest.raises(InputError, match=r"2 channels.*1 or 3"):
        check_images(_imgs(1, 2, 8, 8), channels=(1, 3))
    assert check_images(x, channels=1, size=(28, 28)) is x
    for bad, msg in [(_imgs(3, 28, 28), r"NCHW.*unsqueeze\(0\)"), (_imgs(0, 1, 4, 4), "empty batch"),
                     (_imgs(1, 1, 4, 4) * 255, r"\[0, 1\].*divide by 255"), (np.zeros((1, 1, 4, 4)), "torch.Tensor")]:
        with pytest.raises(InputError, match=msg):
            check_images(bad)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for bad in ("gpu0", "cuda:x", "", "cpu:zero"):
        with pytest.raises(InputError, match=rf"'{bad}'.*auto, cpu, cuda, cuda:N or mps"):  # and the valid forms
            resolve_device(bad)
    with pytest.raises(InputError, match="'meta'"):
        resolve_device("meta")
    with pytest.raises(InputError, match="device.*int"):
        resolve_device(0)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(InputError, match=r"--device cuda:99"):
        resolve_device("cuda:99")
    if not n:
        with pytest.raises(InputError, match=r"--device cuda\b.*--device cpu"):  # and what to use instead
            resolve_device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        with pytest.raises(InputError, match=r"--device mps\b"):
            resolve_device("mps")


def test_check_one_device_names_both_parts():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert check_one_device(net, torch.zeros(1), None) == torch.device("cpu")
    assert check_one_device() is None
    net[1].register_buffer("running_mean", torch.zeros(2, device="meta"))  # one buffer left behind elsewhere
    with pytest.raises(InputError, match=r"'0\.weight'.*cpu.*'1\.running_mean'.*meta"):
        check_one_device(net)
    with pytest.raises(InputError, match=r"Linear.*'weight'.*cpu.*argument 2 \(Tensor\).*meta"):
        check_one_device(torch.nn.Linear(2, 2), torch.zeros(2, device="meta"))
    with pytest.raises(InputError, match="Module or a torch.Tensor"):
        check_one_device("cpu")


def test_check_writable_creates_and_probes(tmp_path):
    out = check_writable(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []  # the probe is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=rf"{tmp_path / 'file'}\b.*is a file"):
        check_writable(tmp_path / "file")
    with pytest.raises(InputError, match=rf"{tmp_path / 'file' / 'sub'}\b.*is a file"):
        check_writable(tmp_path / "file" / "sub")


def test_check_writable_read_only_folder(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode bits: simulate the refusal the kernel would give
            import tempfile

            def refuse(*a, **k):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(InputError, match=rf"{ro}\b.*Permission denied"):
            check_writable(ro)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("bad, shown", [(0, r"\b0$"), (-3, "-3"), (True, "bool True"), (2.5, "float 2.5"),
                                        (2.0, "float 2.0; pass 2"), ("3", "str '3'; pass 3"), (None, "NoneType")])
def test_check_count_is_strict(bad, shown):
    """The name, the value and its type, and the whole number to pass where there is one."""
    with pytest.raises(InputError, match=rf"^n_images\b.*{shown}"):
        check_count(bad, "n_images")


def test_check_count_accepts_ints_and_a_minimum():
    assert check_count(np.int64(4), "workers") == 4 and check_count(0, "retries", minimum=0) == 0
    with pytest.raises(InputError, match=r"^draws\b.*\b2\b.*\b1$"):  # the minimum, and the value below it
        check_count(1, "draws", minimum=2)

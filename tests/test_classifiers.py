"""The classifier zoo, the shipped Fashion-MNIST weights, resumable training and the CLI front-ends."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from cnr import cli
from cnr.classifiers import CLASSIFIERS, FMNIST_CNN_WEIGHTS, load_classifier, predict
from cnr.data import load_fmnist
from cnr.errors import InputError, WeightsError
from cnr.weights import read_metadata


def test_unknown_classifier_lists_valid_names():
    with pytest.raises(InputError, match="valid classifiers: cifar10-keras, densenet121, efficientnet-lite0, fmnist-cnn"):
        load_classifier("vgg99")


def test_shipped_fmnist_cnn_reaches_target_on_all_test_images():
    meta = read_metadata(FMNIST_CNN_WEIGHTS)
    assert meta["architecture"] == "fmnist-cnn" and meta["dataset"] == "fmnist" and meta["seed"] == 0
    model = load_classifier("fmnist-cnn")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x, y = load_fmnist("test")
    acc = (predict(model, x, batch_size=1000) == y).float().mean().item()
    assert len(y) == 10000 and acc >= 0.925
    assert abs(acc - meta["test_accuracy"]) < 1e-6  # the number in the file is the number the model gives


def test_classifier_rejects_bad_input():
    model = load_classifier("fmnist-cnn")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        predict(model, torch.rand(4, 1, 28, 28) * 255)
    with pytest.raises(InputError, match="NCHW"):
        predict(model, torch.rand(1, 28, 28))


def test_corrupted_or_foreign_weights_name_file_and_fix(tmp_path):
    bad = tmp_path / "fm.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match=r"fm.safetensors.*cnr train-classifier"):
        CLASSIFIERS["fmnist-cnn"](weights=bad)
    from cnr.weights import save_weights

    save_weights(bad, {"w": torch.zeros(1)}, {"architecture": "argan-quick"})
    with pytest.raises(WeightsError, match="architecture='argan-quick'"):
        CLASSIFIERS["fmnist-cnn"](weights=bad)


@pytest.mark.parametrize("arch", ["resnet50", "densenet121", "mobilenet_v2"])
def test_torchvision_models_offline_give_a_clear_error(arch, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="run once with internet"):
        load_classifier(arch)


def test_torchvision_models_take_unit_range_images():
    model = load_classifier("mobilenet_v2", weights=None)
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 1000)


def test_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    from cnr import train_classifier as tc

    kwargs = dict(epochs=2, batch_size=64, train_limit=256, eval_limit=128, seed=1)
    tc.train_fmnist_cnn(tmp_path / "a.safetensors", **kwargs)

    real_save = tc.save_checkpoint

    def save_then_die(*args, **kw):
        real_save(*args, **kw)
        raise KeyboardInterrupt  # killed right after the first epoch's checkpoint

    monkeypatch.setattr(tc, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        tc.train_fmnist_cnn(tmp_path / "b.safetensors", **kwargs)
    assert not (tmp_path / "b.safetensors").exists() and (tmp_path / "b.ckpt.safetensors").exists()
    monkeypatch.setattr(tc, "save_checkpoint", real_save)
    meta = tc.train_fmnist_cnn(tmp_path / "b.safetensors", **kwargs)
    assert len(meta["history"]) == 2
    a = load_classifier("fmnist-cnn", weights=tmp_path / "a.safetensors").state_dict()
    b = load_classifier("fmnist-cnn", weights=tmp_path / "b.safetensors").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_accuracy_prints_accuracy_n_and_interval(capsys):
    assert cli.main(["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--limit", "500"]) == 0
    out = capsys.readouterr().out
    assert "n=500" in out and "95% CI" in out


def test_cli_errors_are_one_line_with_valid_choices(capsys):
    assert cli.main(["accuracy", "--classifier", "nope", "--dataset", "fmnist"]) == 2
    err = capsys.readouterr().err
    assert "unknown classifier 'nope'" in err and "fmnist-cnn" in err and "Traceback" not in err


def test_cli_info_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cnr", "info"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch" in out.stdout and "Fashion-MNIST:" in out.stdout and "fmnist-cnn.safetensors" in out.stdout


def test_fmnist_cnn_is_loaded_with_batchnorm_folded_and_computes_the_same():
    from cnr.classifiers import FashionCNN
    from cnr.weights import load_state_into

    plain = FashionCNN()
    load_state_into(plain, FMNIST_CNN_WEIGHTS)
    plain.eval()
    fused = load_classifier("fmnist-cnn")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0), requires_grad=True)
    torch.testing.assert_close(fused(x), plain(x), atol=1e-4, rtol=1e-4)
    g_fused, = torch.autograd.grad(fused(x)[:, 0].sum(), x)
    g_plain, = torch.autograd.grad(plain(x)[:, 0].sum(), x)
    torch.testing.assert_close(g_fused, g_plain, atol=1e-4, rtol=1e-3)
    with pytest.raises(InputError, match="eval"):
        FashionCNN().fuse_batchnorm()

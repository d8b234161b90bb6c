"""cnr.classifiers: the zoo, its input contract, the shipped Fashion-MNIST weights, resumable training, channels_last
layout, and the `cnr accuracy` and `cnr train-classifier` commands."""
from __future__ import annotations

import math

import pytest
import torch
from helpers import assert_cli_refuses, mentions, run_cli
from torch import nn

from cnr import cli
from cnr.classifiers import (
    CLASSIFIERS,
    FMNIST_CNN_WEIGHTS,
    ClassifierInfo,
    load_classifier,
    predict,
    register_classifier,
)
from cnr.classifiers import train_fmnist as tc
from cnr.data import load_fmnist
from cnr.errors import InputError, WeightsError
from cnr.paths import WEIGHTS_DIR
from cnr.weights import read_metadata


@pytest.fixture(scope="module")
def fmnist_cnn() -> nn.Module:
    return load_classifier("fmnist-cnn")


def test_unknown_classifier_lists_valid_names():
    with pytest.raises(InputError, match="'vgg99'.*cifar10-keras") as err:
        load_classifier("vgg99")
    assert all(name in str(err.value) for name in CLASSIFIERS)
    with pytest.raises(InputError, match="unknown classifier"):
        load_classifier(None)


def test_shipped_fmnist_cnn_reaches_target_on_all_test_images(fmnist_cnn):
    meta = read_metadata(FMNIST_CNN_WEIGHTS)
    assert FMNIST_CNN_WEIGHTS == WEIGHTS_DIR / "fmnist-cnn.safetensors"
    assert meta["architecture"] == "fmnist-cnn" and meta["dataset"] == "fmnist" and meta["seed"] == 0
    assert not fmnist_cnn.training and not any(p.requires_grad for p in fmnist_cnn.parameters())
    x, y = load_fmnist("test")
    acc = (predict(fmnist_cnn, x, batch_size=1000) == y).float().mean().item()
    # 9,369 of 10,000 measured; 2e-4 lets two near-tie images flip on another BLAS/oneDNN build
    assert len(y) == 10000 and acc == pytest.approx(0.9369, abs=2e-4)
    assert abs(acc - meta["test_accuracy"]) < 1e-6  # the number in the file is the number the model gives


def test_shipped_fmnist_cnn_on_the_smoke_sizes(fmnist_cnn):
    # The images the smoke grid and notebooks score (n_eval=16, restoration_n=64, the CLI's --limit 500): measured
    # 16/16, 58/64, 473/500. Tolerance: one image (a near-tie flipping on another CPU kernel), never a trend.
    x, y = load_fmnist("test", limit=500)
    pred = predict(fmnist_cnn, x)
    for n, k in ((16, 16), (64, 58), (500, 473)):
        assert (pred[:n] == y[:n]).sum().item() == pytest.approx(k, abs=1), n
    logits = fmnist_cnn(x[:16]).double()
    # a checksum of the logits pins the weights and the BatchNorm folding (float32 noise is ~1e-4 of it)
    assert logits.sum().item() == pytest.approx(-49.0676, abs=5e-3)


@pytest.mark.parametrize("x, message", [
    (torch.rand(2, 3, 28, 28), "fmnist-cnn expects 1-channel 28x28 images .*got 3-channel 28x28"),
    (torch.rand(2, 1, 32, 32), "expects 1-channel 28x28 images .*got 1-channel 32x32"),
    (torch.rand(2, 1, 28, 28, dtype=torch.float64), "float32.*float64"),
    (torch.rand(1, 28, 28), "NCHW.*\\(1, 28, 28\\)"),
])
def test_classifier_input_contract(fmnist_cnn, x, message):
    with pytest.raises(InputError, match=message):
        fmnist_cnn(x)
    with pytest.raises(InputError, match=message):
        predict(fmnist_cnn, x)
    assert fmnist_cnn.cnr_input == CLASSIFIERS["fmnist-cnn"]


def test_classifier_rejects_unit_range_violations(fmnist_cnn):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        predict(fmnist_cnn, torch.rand(4, 1, 28, 28) * 255)


def test_registered_classifier_gets_the_contract(monkeypatch):
    class Toy(nn.Module):
        def __init__(self, weights=None):
            super().__init__()
            self.fc = nn.Linear(2 * 8 * 8, 3)
            self.weights = weights

        def forward(self, x):
            return self.fc(x.flatten(1))

    monkeypatch.setitem(CLASSIFIERS, "toy", CLASSIFIERS["fmnist-cnn"])  # restored after the test
    register_classifier("toy", ClassifierInfo(Toy, channels=2, num_classes=3, dataset="toys", size=8,
                                              takes_weights=True))
    model = load_classifier("toy", weights="w.bin")
    assert model.weights == "w.bin" and not model.training and not model.fc.weight.requires_grad
    assert predict(model, torch.rand(5, 2, 8, 8)).shape == (5,)
    with pytest.raises(InputError, match=r"toy\b.*2-channel 8x8"):
        model(torch.rand(1, 2, 9, 8))


def test_corrupted_or_foreign_weights_name_file_and_fix(tmp_path):
    bad = tmp_path / "fm.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match=r"fm.safetensors.*cnr train-classifier"):
        load_classifier("fmnist-cnn", weights=bad)
    from cnr.weights import save_weights

    save_weights(bad, {"w": torch.zeros(1)}, {"architecture": "argan-quick"})
    with pytest.raises(WeightsError, match="architecture='argan-quick'"):
        CLASSIFIERS["fmnist-cnn"].build(weights=bad)


@pytest.mark.parametrize("arch", ["resnet50", "densenet121", "mobilenet_v2"])
def test_torchvision_models_offline_give_a_clear_error(arch, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="run once with internet"):
        load_classifier(arch)


def test_torchvision_models_take_unit_range_images():
    model = CLASSIFIERS["mobilenet_v2"].build(weights=None).eval()  # untrained: no download
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    inner = model.model((x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
                         / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    torch.testing.assert_close(model(x), inner)  # normalization happens inside, callers pass [0, 1]
    assert model(x).shape == (2, 1000) and CLASSIFIERS["mobilenet_v2"].size is None


def test_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    kwargs = dict(epochs=2, batch_size=64, train_limit=256, eval_limit=128, seed=1)
    meta_a = tc.train_fmnist_cnn(tmp_path / "a.safetensors", **kwargs)

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
    assert [h["epoch"] for h in meta["history"]] == [1, 2] and not (tmp_path / "b.ckpt.safetensors").exists()
    assert [h["loss"] for h in meta["history"]] == [h["loss"] for h in meta_a["history"]]
    assert meta["test_accuracy"] == meta_a["test_accuracy"] and meta["test_n"] == 128 and meta["train_n"] == 256
    a = load_classifier("fmnist-cnn", weights=tmp_path / "a.safetensors").state_dict()
    b = load_classifier("fmnist-cnn", weights=tmp_path / "b.safetensors").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Stop(Exception):
    pass


def _shipped_classifier_lr(step: int, total: int, peak: float, warmup: float = 0.15) -> float:
    """The schedule the shipped fmnist-cnn was trained with, written out here independently of cnr.schedule."""
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (0.1 + 0.9 * step / w)
    return peak * 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


def test_training_follows_the_schedule_of_the_shipped_weights(tmp_path, monkeypatch):
    seen: list[float] = []

    def record(step, total, peak, **kw):
        from cnr.schedule import warmup_cosine

        seen.append(warmup_cosine(step, total, peak, **kw))
        if len(seen) == 8:
            raise _Stop  # the schedule is known after a few steps: no need to train on
        return seen[-1]

    monkeypatch.setattr(tc, "warmup_cosine", record)
    with pytest.raises(_Stop):
        tc.train_fmnist_cnn(tmp_path / "s.safetensors", epochs=2, batch_size=64, train_limit=1280, eval_limit=64)
    total = 2 * 1280 // 64
    assert seen == pytest.approx([_shipped_classifier_lr(s, total, 3e-3) for s in range(8)], rel=1e-12)


# --- CLI ---------------------------------------------------------------------------------------------------

def test_cli_accuracy_prints_accuracy_n_and_interval(capsys):
    assert cli.main(["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--limit", "500"]) == 0
    out = capsys.readouterr().out
    # 473/500 measured (see test_shipped_fmnist_cnn_on_the_smoke_sizes); the Wilson interval of 473/500
    assert "accuracy 0.9460 (473/500, 95% CI 0.9226-0.9626) n=500" in out


def test_cli_errors_are_one_line_with_valid_choices(capsys):
    assert cli.main(["accuracy", "--classifier", "nope", "--dataset", "fmnist"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "fmnist-cnn" in err and "Traceback" not in err
    assert cli.main(["accuracy", "--classifier", "cifar10-keras", "--dataset", "foolbox-mnist"]) == 2
    err = capsys.readouterr().err  # refused before any forward pass, in one line that says what to do
    assert mentions(err, ("foolbox-mnist", "cifar10-keras", "1-channel")) and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["train-classifier", "--profile", "smoke", "--set", "clf_epochs=many"]) == 2
    assert mentions(capsys.readouterr().err, ("clf.epochs", "'many'"))


def test_cli_train_classifier_defaults_to_the_runs_models_folder(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_train(out_path, **kw):
        calls.append((out_path, kw))
        return {"test_accuracy": 0.5, "test_n": 10, "train_seconds": 1.0}

    monkeypatch.setenv("CNR_RESULTS", str(tmp_path))  # the CLI's results root, for this test only
    monkeypatch.setattr(tc, "train_fmnist_cnn", fake_train)
    assert cli.main(["train-classifier", "--profile", "smoke", "--set", "clf_batch=32", "--seed", "2"]) == 0
    out, kw = calls[0]
    assert out == tmp_path / "smoke+clf.batch=32,seed=2" / "models" / "fmnist-cnn.safetensors"
    assert kw["batch_size"] == 32 and kw["seed"] == 2 and kw["epochs"] == 1 and kw["train_limit"] == 2000
    assert kw["command"].startswith("cnr ")  # (built from sys.argv, i.e. pytest's here, not from argv)
    assert "test accuracy 0.5000 (n=10)" in capsys.readouterr().out


def test_fmnist_cnn_is_loaded_with_batchnorm_folded_and_computes_the_same(fmnist_cnn):
    from cnr.classifiers import FashionCNN
    from cnr.weights import load_state_into

    plain = FashionCNN()
    load_state_into(plain, FMNIST_CNN_WEIGHTS)
    plain.eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fmnist_cnn.modules())
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0), requires_grad=True)
    torch.testing.assert_close(fmnist_cnn(x), plain(x), atol=1e-4, rtol=1e-4)
    g_fused, = torch.autograd.grad(fmnist_cnn(x)[:, 0].sum(), x)
    g_plain, = torch.autograd.grad(plain(x)[:, 0].sum(), x)
    torch.testing.assert_close(g_fused, g_plain, atol=1e-4, rtol=1e-3)
    with pytest.raises(InputError, match="eval"):
        FashionCNN().fuse_batchnorm()


SHAPES = {"fmnist-cnn": (16, 1, 28, 28), "efficientnet-lite0": (2, 3, 224, 224)}


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("kwargs, needle", [  # the argument and the value given
    (dict(epochs=0), ("train_fmnist_cnn", "'epochs'", "0")),
    (dict(batch_size=2.5), ("train_fmnist_cnn", "'batch_size'", "2.5")),
    (dict(train_limit=-5), ("'train_limit'", "-5")),
])
def test_classifier_training_counts(tmp_path, kwargs, needle):
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    with pytest.raises(InputError) as e:
        train_fmnist_cnn(out_path=tmp_path / "w" / "c.safetensors", **kwargs)
    assert mentions(str(e.value), needle) and not (tmp_path / "w").exists()


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("out, needle", [("FOLDER", ("out_path", "folder")), ("w.pt", ("w.pt", ".safetensors"))])
def test_classifier_out_path(capsys, tmp_path, out, needle):
    target = tmp_path if out == "FOLDER" else tmp_path / out
    assert_cli_refuses(capsys, tmp_path, ["train-classifier", "--epochs", "1", "--out", str(target)], needle)


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("argv", [
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "foolbox-cifar10"],
    ["accuracy", "--classifier", "cifar10-keras", "--dataset", "foolbox-fmnist"],
])
def test_model_and_data_that_do_not_fit(capsys, argv):
    code, text = run_cli(capsys, *argv)
    assert code == 2 and "expects" in text and "channel" in text and "Traceback" not in text


@pytest.mark.usefixtures("scratch_results")
def test_output_folder_checked_before_the_work(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, text = run_cli(capsys, "train-classifier", "--epochs", "1", "--out", str(blocker / "w.safetensors"))
    assert code == 2 and ("a part of its path is a file" in text or "is a file" in text), text
    assert blocker.read_text() == "x"


@pytest.mark.usefixtures("scratch_results")
def test_unknown_names_list_the_valid_ones(capsys):
    code, text = run_cli(capsys, "accuracy", "--classifier", "resnet5O", "--dataset", "fmnist")
    assert code == 2 and "resnet50" in text and "efficientnet-lite0" in text


@pytest.mark.usefixtures("scratch_results")
def test_empty_out_is_refused(capsys, tmp_path):
    code, text = run_cli(capsys, "train-classifier", "--out", "")
    assert code == 2 and "--out is empty" in text


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_channels_last_classifier_gives_the_nchw_logits_and_gradients(name):
    nchw, cl = load_classifier(name), load_classifier(name, channels_last=True)
    conv = next(m for m in cl.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(SHAPES[name], generator=torch.Generator().manual_seed(0))
    grads = []
    for model in (nchw, cl):
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        out.logsumexp(1).sum().backward()
        grads.append((out.detach(), xg.grad))
    (a, ga), (b, gb) = grads
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    assert torch.equal(a.argmax(1), b.argmax(1))
    # gradients: rounding moves a few ReLU6 kinks of EfficientNet, so compare directions, not every pixel
    assert torch.nn.functional.cosine_similarity(ga.flatten(1), gb.flatten(1)).min() > 0.9999


def test_a_weights_path_for_a_classifier_with_its_own_weights_is_refused():
    with pytest.raises(InputError, match=r"cifar10-keras.*weights='anything\.safetensors'"):
        load_classifier("cifar10-keras", weights="anything.safetensors")


def test_loader_and_trainer_arguments_are_checked_before_any_work(tmp_path):
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    with pytest.raises(InputError, match="channels_last: expected a boolean"):
        load_classifier("fmnist-cnn", channels_last="yes please")
    with pytest.raises(InputError, match="train_limit 1000000000000 is more than the 60,000 images"):
        train_fmnist_cnn(tmp_path / "w.safetensors", epochs=1, train_limit=10**12)
    assert not list(tmp_path.iterdir())

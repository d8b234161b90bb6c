"""A third battery of bad inputs, one class per test: each gets the kit's own error at the public boundary,
never a traceback from torch/pandas/safetensors, never silent acceptance, and nothing written from it."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from test_cli_validation import cli, names, scratch_results  # noqa: F401  (the in-process CLI, its scratch results)

from cnr.errors import InputError, WeightsError
from cnr.paths import RESULTS_DIR, WEIGHTS_DIR

FMNIST_BANK = WEIGHTS_DIR / "argan-fmnist-quick"
QUICK_TABLE = RESULTS_DIR / "quick" / "tables" / "robustness.csv"



@pytest.fixture(scope="module")
def models():
    from cnr import CompressRestore, RestorerBank, load_classifier

    bank = RestorerBank.load(FMNIST_BANK)
    return bank, load_classifier("fmnist-cnn"), CompressRestore(bank, (20, 60), 1)


def assert_cli_refuses(capsys, tmp_path, argv, needle):
    code, text = cli(capsys, *argv)
    assert code == 2 and names(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists(), "something was written from a refused command"


# --- dtype ------------------------------------------------------------------------------------------

X = torch.rand(2, 1, 28, 28)
Y = torch.zeros(2, dtype=torch.int64)


@pytest.mark.parametrize("case, needle", [
    ("defense uint8", "defense input must be a float32 tensor in [0, 1], got dtype uint8; convert with x.float() / 255"),
    ("defense float64", "got dtype float64; convert with x.float()"),
    ("restore float16", "images to restore must be a float32 tensor in [0, 1], got dtype float16"),
    ("predict int64", "images to classify must be a float32 tensor in [0, 1], got dtype int64"),
    ("attack float labels", "labels must be int64, got torch.float32"),
    ("attack 0..255 images", "attack images must lie in [0, 1], got values in"),
])
def test_dtype(models, case, needle):
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
    assert needle in str(e.value)


# --- counts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, needle", [
    (dict(epochs=0), "train_fmnist_cnn argument 'epochs': expected an integer >= 1, got 0"),
    (dict(batch_size=2.5), "train_fmnist_cnn argument 'batch_size': expected an integer >= 1, got float 2.5"),
    (dict(train_limit=-5), "'train_limit': expected an integer >= 1 (or None), got -5"),
])
def test_classifier_training_counts(tmp_path, kwargs, needle):
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    with pytest.raises(InputError) as e:
        train_fmnist_cnn(out_path=tmp_path / "w" / "c.safetensors", **kwargs)
    assert needle in str(e.value) and not (tmp_path / "w").exists()


@pytest.mark.parametrize("kwargs, needle", [
    (dict(pretrain_steps=-1), "train_argan argument 'pretrain_steps': expected an integer >= 0, got -1"),
    (dict(pretrain_steps=0, gan_steps=0), "needs at least one step"),
    (dict(batch=0), "train_argan argument 'batch': expected an integer >= 1, got 0"),
    (dict(n_val=True), "'n_val': expected an integer >= 1, got bool True"),
])
def test_argan_training_counts(tmp_path, kwargs, needle):
    from cnr.argan.train import train_argan

    with pytest.raises(InputError) as e:
        train_argan(10, out_path=tmp_path / "w" / "g.safetensors", progress=False, **kwargs)
    assert needle in str(e.value) and not (tmp_path / "w").exists()


def test_attack_batch_size_zero(models):
    from cnr import run_attack

    with pytest.raises(InputError, match="'batch_size': expected an integer >= 1, got 0"):
        run_attack("pgd", models[1], X, Y, 0.1, steps=1, batch_size=0)


@pytest.mark.parametrize("argv, needle", [
    (["grid", "--workers", "1000000"], "--workers 1000000: this machine has"),
    (["grid", "--workers", "7", "--set", "groups=('clean',)", "--set", "ns=(1,)", "--set", "sweep_ns=(1,)"],
     "--workers 7: the grid has only 5 cells"),
    (["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--limit", "99999999"],
     "--limit 99999999 is more than the 10,000 images of fmnist"),
    (["restoration-table", "--set", "samples.restoration=100000"], ("samples.restoration", "100000", "10,000")),
])
def test_cli_counts(capsys, tmp_path, argv, needle):
    assert_cli_refuses(capsys, tmp_path, argv, needle)


# --- parsing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, needle", [
    (dict(lr="1e-3"), "train_argan argument 'lr': expected a finite number > 0, got '1e-3'"),
    (dict(lr=float("inf")), "'lr': expected a finite number > 0, got inf"),
    (dict(amp="maybe"), "train_argan argument 'amp': expected a boolean"),
    (dict(pixel="L1"), "train_argan argument 'pixel': expected one of 'l1', 'l2', got 'L1'"),
])
def test_argan_training_arguments_parsed_strictly(tmp_path, kwargs, needle):
    from cnr.argan.train import train_argan

    with pytest.raises(InputError) as e:
        train_argan(10, out_path=tmp_path / "g.safetensors", pretrain_steps=1, gan_steps=0, progress=False, **kwargs)
    assert needle in str(e.value)


@pytest.mark.parametrize("argv, needle", [
    (["attack", "--param", "eot=2.0", "--n-images", "2"], "parameter 'eot': expected an integer, got '2.0'"),
    (["attack", "--param", "=3", "--n-images", "2"], "the name is empty"),
    (["attack", "--param", "steps=1", "--param", "steps=2", "--n-images", "2"], "--param steps is given twice"),
    (["attack", "--param", "step_size=inf", "--n-images", "2"], "'step_size': expected a finite number > 0 (or None)"),
    (["grid", "--set", "grid.ref_linf=1e400"], ("grid.ref_linf", "got inf")),
    (["grid", "--set", "linf_budgets=(0.1, 5.0)"], ("grid.linf_budgets", "[0, 1]", "got 5.0")),
    (["grid", "--set", "grid.l2_budgets=(0.1, 1e999)"], ("grid.l2_budgets", "got inf")),
    (["attack", "--budget", "nan", "--n-images", "2"], "argument --budget: expected a number >= 0, got NaN"),
])
def test_cli_parsing(capsys, tmp_path, argv, needle):
    assert_cli_refuses(capsys, tmp_path, argv, needle)


# --- weights ----------------------------------------------------------------------------------------

def _copy_bank(tmp_path):
    folder = tmp_path / "bank"
    shutil.copytree(FMNIST_BANK, folder)
    return folder


def test_weights_path_of_the_wrong_type():
    from cnr import RestorerBank, load_classifier

    with pytest.raises(WeightsError, match="a weights path must be a str or Path, got int 5"):
        load_classifier("fmnist-cnn", weights=5)
    with pytest.raises(InputError, match="RestorerBank.load takes a folder path .str or Path., got int 5"):
        RestorerBank.load(5)


def test_a_flipped_bit_in_shipped_weights_is_caught(tmp_path):
    from cnr import load_classifier

    data = bytearray((WEIGHTS_DIR / "fmnist-cnn.safetensors").read_bytes())
    data[-10] ^= 0x01
    (tmp_path / "flip.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_classifier("fmnist-cnn", weights=tmp_path / "flip.safetensors")


@pytest.mark.parametrize("content, needle", [
    (b"", "is not a valid safetensors file"),
    ((10**15).to_bytes(8, "little") + b"{}", "is not a valid safetensors file"),
])
def test_empty_or_absurd_header_weights(tmp_path, content, needle):
    from cnr import load_classifier

    (tmp_path / "w.safetensors").write_bytes(content)
    with pytest.raises(WeightsError, match=needle):
        load_classifier("fmnist-cnn", weights=tmp_path / "w.safetensors")


def test_bank_file_renamed_to_another_qf(tmp_path):
    from cnr import RestorerBank

    folder = _copy_bank(tmp_path)
    shutil.copy(folder / "qf05.safetensors", folder / "qf10.safetensors")
    with pytest.raises(WeightsError, match="qf10.safetensors: expected qf=10, found qf=5"):
        RestorerBank.load(folder)


def test_generator_metadata_whose_architecture_is_not_an_object(tmp_path):
    from safetensors.torch import save_file

    from cnr.argan.bank import load_generator

    path = tmp_path / "g.safetensors"
    save_file({"a": torch.zeros(1)}, str(path), metadata={"cnr": json.dumps({"kind": "argan-generator",
                                                                                 "architecture": [16, 2]})})
    with pytest.raises(WeightsError, match=r"not an AR-GAN generator .*architecture=\[16, 2\]"):
        load_generator(path)


# --- row store and results tables ---------------------------------------------------------------------

HEADER = "dataset,classifier,defense,attack,norm,budget,params,seed,n,accuracy\n"


@pytest.mark.parametrize("text, needle", [
    ("dataset," + HEADER + "f,f,c,d,a,linf,0.1,{},0,5,0.5\n", "header names the column(s) dataset more than once"),
    (HEADER + "f,c,d,a,linf,0.1,{},-3,5,0.5\n", "row 1 (line 2): 'seed': expected an integer >= 0, got -3"),
    (HEADER + "f,c,d,a,linf,-inf,{},0,5,0.5\n", "'budget': expected a number >= 0, got -inf"),
    (HEADER + "f,c,d,a,linf,0.1,{},0,5,\n", "row 1 (line 2): accuracy is empty"),
    (HEADER + "f,c,d,a,linf,0.1,{},0,2.5,0.5\n", "'n': expected an integer >= 1, got float 2.5"),
    (HEADER + "f,c,d,a,Linf,0.1,{},0,5,0.5\n", "'norm': expected one of 'linf', 'l2', got 'Linf'"),
])
def test_results_table_values(tmp_path, text, needle):
    from cnr.eval.rows import TableError, read_table

    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(TableError) as e:
        read_table(tmp_path / "t.csv")
    assert needle in str(e.value) and "t.csv" in str(e.value)


# --- model / data mismatch ----------------------------------------------------------------------------

def test_gray_bank_in_front_of_an_rgb_classifier(models):
    from cnr import Defended, load_classifier

    with pytest.raises(InputError, match="restores 1-channel images but the classifier expects 3-channel ones"):
        Defended(models[2], load_classifier("cifar10-keras"))


@pytest.mark.parametrize("setting, needle", [
    ("data.dataset=foolbox-cifar10", ("data.classifier='fmnist-cnn'", "data.dataset='foolbox-cifar10'")),
    ("classifier=cifar10-keras", ("data.classifier='cifar10-keras'", "data.dataset='fmnist'")),
    ("data.classifier=resnet5O", ("data.classifier", "'resnet5O'", "cifar10-keras")),
    ("dataset=fmnsit", ("data.dataset", "'fmnsit'", "fmnist")),
    ("sweep_ns=(7,)", "sweep_ns names N=7, which is not among the grid's ns (1, 3, 5)"),
])
def test_profile_model_and_data(capsys, tmp_path, setting, needle):
    assert_cli_refuses(capsys, tmp_path, ["grid", "--set", setting], needle)


# --- devices ----------------------------------------------------------------------------------------

def test_training_devices(tmp_path):
    from cnr.argan.train import train_argan
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    with pytest.raises(InputError, match="device 'tpu' is not a device"):
        train_fmnist_cnn(out_path=tmp_path / "c.safetensors", epochs=1, device="tpu")
    with pytest.raises(InputError, match="device 'cuda:abc' is not a device"):
        train_argan(10, pretrain_steps=1, gan_steps=0, device="cuda:abc", progress=False)


@pytest.mark.parametrize("device, needle", [("CPU", "'CPU' is not a device"), ("meta", "not 'meta'"),
                                            ("cuda:-1", "'cuda:-1' is not a device")])
def test_device_strings(device, needle):
    from cnr.checks import resolve_device

    with pytest.raises(InputError, match=needle):
        resolve_device(device)


def test_worker_run_json_with_a_bad_device(tmp_path):
    from cnr.run import Run, resolve_run

    d = json.loads(resolve_run("smoke").to_json())
    d["device"] = "tpu"
    with pytest.raises(InputError, match="'tpu' is not a device"):
        Run.from_json(json.dumps(d))


# --- output folders -----------------------------------------------------------------------------------

@pytest.mark.parametrize("out, needle", [("FOLDER", "is a folder; give a file path inside it"),
                                         ("w.pt", "must end in .safetensors")])
def test_classifier_out_path(capsys, tmp_path, out, needle):
    target = tmp_path if out == "FOLDER" else tmp_path / out
    assert_cli_refuses(capsys, tmp_path, ["train-classifier", "--epochs", "1", "--out", str(target)], needle)


def test_results_root_from_the_environment_is_a_file(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CNR_RESULTS", str(tmp_path / "file"))
    code, text = cli(capsys, "grid", "--workers", "1")
    assert code == 2 and "CNR_RESULTS" in text and "is a file, not a folder" in text
    assert (tmp_path / "file").read_text() == "x"


def test_argan_out_folder_is_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, text = cli(capsys, "train-argan", "--qf", "10", "--steps", "1", "--out", str(tmp_path / "file"))
    assert code == 2 and "is a file, not a folder" in text and (tmp_path / "file").read_text() == "x"


# --- corrupt files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, needle", [
    (None, "cannot be read (No such file or directory)"),
    ('{"profile": ', "is not valid JSON"),
    ("[1, 2]", "must be an object with profile, overrides"),
    ('{"profile": {"name": "quick"}, "overrides": 5, "device": "cpu", "retrain": false, "results_root": "r"}',
     "overrides must be [field, value] pairs"),
    ('{"profile": {"name": "nope"}, "overrides": [], "device": "cpu", "retrain": false, "results_root": "r"}',
     "unknown profile 'nope'"),
])
def test_corrupt_run_json(capsys, tmp_path, content, needle):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    assert_cli_refuses(capsys, tmp_path, ["grid", "--run-json", str(path)], needle)


def test_corrupt_labels_file_line(tmp_path):
    from PIL import Image

    from cnr.data import ImageNetVal

    (tmp_path / "a.png").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "labels.txt").write_text("a.png seven\n")
    with pytest.raises(InputError, match=r"labels.txt:1: expected 'filename label_index', got 'a.png seven'"):
        ImageNetVal(tmp_path)


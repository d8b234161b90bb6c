"""Bad input through the command line: one clear line from the kit and exit code 2, never a traceback, never a
silent wrong result, and nothing written. One test per class of bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cnr.cli import main


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Run `cnr ...` in-process; argparse's own usage errors exit 2 as well."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out + out.err


def names(text: str, needle: str | tuple[str, ...]) -> bool:
    """Whether the kit's message holds the needle (or every one of several: a setting's path and its value)."""
    return all(n in text for n in ((needle,) if isinstance(needle, str) else needle))


@pytest.fixture(autouse=True)
def scratch_results(tmp_path, monkeypatch):
    monkeypatch.setenv("CNR_RESULTS", str(tmp_path / "results"))


@pytest.mark.parametrize("argv, needle", [
    (["attack", "--n-images", "0"], "--n-images: expected an integer >= 1"),
    (["attack", "--n-images", "-3"], "--n-images: expected an integer >= 1"),
    (["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--batch-size", "0"], "--batch-size"),
    (["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--batch-size", "-1"], "--batch-size"),
    (["train-classifier", "--epochs", "0"], "--epochs: expected an integer >= 1"),
    (["train-classifier", "--epochs", "-1"], "--epochs: expected an integer >= 1"),
    (["train-argan", "--steps", "-5"], "--steps: expected an integer >= 1"),
    (["grid", "--workers", "0"], "--workers"),
])
def test_counts_that_are_zero_or_negative(capsys, tmp_path, argv, needle):
    code, text = cli(capsys, *argv)
    assert code == 2 and needle in text and "Traceback" not in text
    assert not (tmp_path / "results").exists()  # nothing was written


@pytest.mark.parametrize("argv, needle", [
    (["grid", "--set", "grid.qf_range=(20, 40, 60)"], ("grid.qf_range", "(20, 40, 60)")),
    (["grid", "--set", "qf_range=20-60"], ("grid.qf_range", "20-60")),  # an older name reports its path
    (["grid", "--set", "samples.eval=abc"], ("samples.eval", "'abc'")),
    (["grid", "--set", "n_eval=abc"], ("samples.eval", "'abc'")),
    (["grid", "--set", "nope=1"], ("unknown profile setting", "'nope'")),
    (["grid", "--set", "attacks.pgd.stesp=3"], ("'stesp'", "'pgd'")),
    (["grid", "--set", "attacks.nope.steps=3"], ("attacks.nope", "'nope'")),
    (["grid", "--set", "attacks.pgd.steps=0"], ("'pgd'", "'steps'")),
    (["grid", "--set", "attacks.clean.steps=3"], ("'clean'", "attacks.clean")),
    (["grid", "--seed", "abc"], "--seed"),
    (["attack", "--param", "random_start=maybe", "--n-images", "2"], "random_start"),
    (["attack", "--param", "stesp=3", "--n-images", "2"], "stesp"),
    (["attack", "--attack", "deepfool", "--param", "candidates=0", "--norm", "l2", "--n-images", "2"],
     "'candidates': expected an integer >= 2"),
])
def test_parameters_parsed_strictly(capsys, argv, needle):
    code, text = cli(capsys, *argv)
    assert code == 2 and names(text, needle) and "Traceback" not in text, text


def test_boolean_parameter_no_means_false(capsys):
    code, text = cli(capsys, "attack", "--defense", "none", "--param", "random_start=no", "--param", "steps=1",
                     "--n-images", "2")
    assert code == 0 and '"random_start": false' in text


@pytest.mark.parametrize("argv", [
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "foolbox-cifar10"],
    ["accuracy", "--classifier", "cifar10-keras", "--dataset", "foolbox-fmnist"],
])
def test_model_and_data_that_do_not_fit(capsys, argv):
    code, text = cli(capsys, *argv)
    assert code == 2 and "expects" in text and "channel" in text and "Traceback" not in text


@pytest.mark.parametrize("argv", [
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--device", "cuda"],
    ["train-argan", "--device", "cuda", "--steps", "1"],
    ["restoration-table", "--device", "cuda"],
    ["grid", "--device", "cuda:3"],
])
def test_a_device_that_is_not_there(capsys, argv):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, text = cli(capsys, *argv)
    assert code == 2 and "CUDA was asked for" in text and "Traceback" not in text


def test_output_folder_checked_before_the_work(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, text = cli(capsys, "train-classifier", "--epochs", "1", "--out", str(blocker / "w.safetensors"))
    assert code == 2 and ("a part of its path is a file" in text or "is a file" in text), text
    assert blocker.read_text() == "x"


def test_unknown_names_list_the_valid_ones(capsys):
    code, text = cli(capsys, "accuracy", "--classifier", "resnet5O", "--dataset", "fmnist")
    assert code == 2 and "resnet50" in text and "efficientnet-lite0" in text


def test_the_console_script_prints_no_traceback():
    out = subprocess.run([sys.executable, "-m", "cnr", "attack", "--n-images", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_second_battery_api_boundaries():
    """Found by a second bad-input battery: each now gets the kit's error at the public boundary."""
    import torch

    from cnr import CompressRestore, RestorerBank, load_classifier, predict, resolve_run, run_attack
    from cnr.errors import InputError
    from cnr.paths import WEIGHTS_DIR

    bank = RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick")
    clf = load_classifier("fmnist-cnn")
    x, y = torch.rand(2, 1, 28, 28), torch.zeros(2, dtype=torch.int64)
    for kwargs in (dict(qf_range="20,60x"), dict(seed="abc"), dict(n_iter=True), dict(n_iter=0)):
        with pytest.raises(InputError):
            CompressRestore(bank, **{"qf_range": (20, 60), **kwargs})
    with pytest.raises(InputError, match="RestorerBank"):
        CompressRestore(clf, (20, 60), 3)
    with pytest.raises(InputError, match="draw"):
        CompressRestore(bank, (20, 60), 1)(x, draw="x")
    with pytest.raises(InputError, match="integers"):
        bank.restore(x, torch.tensor([True, True]))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="batch_size"):
            predict(clf, x, batch_size=bad)
    with pytest.raises(InputError, match="nn.Module"):
        predict(lambda t: t, x)
    with pytest.raises(InputError, match="seed"):
        run_attack("pgd", clf, x, y, 0.1, seed="a")
    for budget in ("0.1", True):
        with pytest.raises(InputError, match="budget"):
            run_attack("pgd", clf, x, y, budget)
    with pytest.raises(InputError, match="random_start"):
        run_attack("pgd", clf, x, y, 0.1, random_start="maybe", steps=1)
    with pytest.raises(InputError, match="NaN or Inf logits"):
        run_attack("pgd", torch.nn.Sequential(torch.nn.Flatten(), _NaNLogits()), x, y, 0.1, steps=1)
    with pytest.raises(InputError, match="would be ignored"):
        load_classifier("cifar10-keras", weights="anything.safetensors")
    with pytest.raises(InputError, match="overrides must be a dict"):
        resolve_run("quick", "n_eval=5")


class _NaNLogits(__import__("torch").nn.Module):
    def forward(self, x):
        return x[:, :10] * float("nan")


def test_budget_text_that_overflows_is_refused(capsys):
    code, text = cli(capsys, "attack", "--budget", "1e400", "--n-images", "2")
    assert code == 2 and "overflows to infinity" in text


def test_empty_out_is_refused(capsys, tmp_path):
    code, text = cli(capsys, "train-classifier", "--out", "")
    assert code == 2 and "--out is empty" in text


# --- more classes of bad input, one test per class ---------------------------------------------------

@pytest.mark.parametrize("attack, norm, param, needle", [
    ("square", "linf", "loss=nope", "'loss': expected one of 'margin', 'ce', got 'nope'"),
    ("square", "linf", "p_init=1.5", "'p_init': expected a finite number in (0, 1]"),
    ("square", "linf", "p_init=0", "'p_init': expected a finite number in (0, 1]"),
    ("square", "linf", "n_queries=0", "'n_queries': expected an integer >= 1"),
    ("deepfool", "l2", "loss=probs", "'loss': expected one of 'logits', 'crossentropy'"),
    ("deepfool", "l2", "overshoot=-0.1", "'overshoot': expected a finite number >= 0"),
    ("cw", "l2", "binary_steps=0", "'binary_steps': expected an integer >= 1"),
    ("cw", "l2", "stepsize=0", "'stepsize': expected a finite number > 0"),
    ("cw", "l2", "initial_const=-1", "'initial_const': expected a finite number > 0"),
    ("hsj", "l2", "stepsize_search=bisect", "'stepsize_search': expected one of 'geometric_progression'"),
    ("hsj", "l2", "steps=0", "'steps': expected an integer >= 1"),
    ("nattack", "linf", "sigma=inf", "'sigma': expected a finite number > 0"),
])
def test_attack_parameter_ranges(capsys, attack, norm, param, needle):
    code, text = cli(capsys, "attack", "--attack", attack, "--norm", norm, "--param", param, "--n-images", "2")
    assert code == 2 and needle in text and "Traceback" not in text, text


def test_attack_ranges_hold_for_the_python_api_and_the_registry():
    import torch

    from cnr.attacks import ATTACKS, AttackDef, register_attack, run_attack
    from cnr.errors import InputError
    from cnr.parsing import count_limit

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.rand(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(InputError, match="'p_init': expected a finite number in"):
        run_attack("square", model, x, y, 0.1, p_init=2.0)
    with pytest.raises(InputError, match="'steps': expected an integer >= 1, got 0"):
        register_attack("bad", AttackDef(ATTACKS["pgd"].fn, dict(steps=0), limits=dict(steps=count_limit())))
    with pytest.raises(InputError, match="no default"):
        register_attack("bad", AttackDef(ATTACKS["pgd"].fn, {}, limits=dict(steps=count_limit())))
    assert "bad" not in ATTACKS


@pytest.mark.parametrize("setting, needle", [
    ("argan_pretrain_steps_by_qf=((60, -5),)", ("pretrain_steps_by_qf", "QF 60", "-5")),
    ("bank.pretrain_steps_by_qf=((500, 100),)", ("pretrain_steps_by_qf", "QF 500")),
    ("argan_pretrain_steps_by_qf=((7, 100),)", "names QF 7, which the bank does not train"),
    ("argan_pretrain_steps_by_qf=((60, 10), (60, 20))", "gives 60 more than once"),
    ("argan_natural_train=(('lr', '1e-4'),)", "setting 'lr': expected a finite number > 0, got '1e-4'"),
    ("argan_natural_train=(('nope', 1),)", "unknown setting 'nope'; valid settings: adv_weight, gan_steps, lr"),
    ("argan_natural_train=(('pixel', 'l3'),)", "setting 'pixel': expected one of 'l1', 'l2'"),
    ("argan_qfs=(5, 5, 10)", ("bank.qfs", "5 more than once")),
    ("argan_preset=../../etc", ("bank.preset", "'../../etc'", "paper, quick")),
    ("bank.preset_natural=bogus", ("bank.preset_natural", "'bogus'")),
])
def test_nested_profile_values(capsys, tmp_path, setting, needle):
    code, text = cli(capsys, "grid", "--set", setting, "--workers", "1")
    assert code == 2 and names(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists()


def test_nested_profile_values_through_the_api():
    from cnr.errors import InputError
    from cnr.run import resolve_run, with_overrides

    run = resolve_run("quick")
    with pytest.raises(InputError, match="pretrain_steps_by_qf.*QF 7"):
        with_overrides(run, **{"bank.qfs": (5, 10), "bank.pretrain_steps_by_qf": ((7, 10),)})
    with pytest.raises(InputError, match="pretrain_steps_by_qf.*QF 7"):  # the older names too
        with_overrides(run, argan_qfs=(5, 10), argan_pretrain_steps_by_qf=((7, 10),))
    more = with_overrides(run, **{"bank.pretrain_steps_by_qf": (("static", 10),)})
    assert more.profile.bank.pretrain_steps_by_qf == (("static", 10),)


def _shipped_table():
    import pandas as pd

    from cnr.paths import RESULTS_DIR

    return pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv")


def test_sanity_refuses_a_table_whose_accuracy_is_not_a_fraction(capsys, tmp_path):
    tables = tmp_path / "results" / "quick" / "tables"
    tables.mkdir(parents=True)
    df = _shipped_table()
    df.loc[2, "accuracy"] = 7.5
    df.to_csv(tables / "robustness.csv", index=False)
    code, text = cli(capsys, "sanity")
    assert code == 2 and "robustness.csv row 3 (line 4): 'accuracy': expected a finite number in [0, 1], got 7.5" \
        in text, text


def test_compare_refuses_a_non_numeric_accuracy(capsys, tmp_path):
    from cnr.paths import RESULTS_DIR

    df = _shipped_table()
    df["accuracy"] = df["accuracy"].astype(object)
    df.loc[4, "accuracy"] = "abc"
    df.to_csv(tmp_path / "bad.csv", index=False)
    code, text = cli(capsys, "compare", str(RESULTS_DIR / "quick" / "tables" / "robustness.csv"),
                     str(tmp_path / "bad.csv"))
    assert code == 2 and "bad.csv row 5 (line 6): 'accuracy'" in text and "got 'abc'" in text, text


@pytest.mark.parametrize("column, value, needle", [
    ("accuracy", 7.5, "'accuracy': expected a finite number in [0, 1], got 7.5"),
    ("worst_accuracy", -0.1, "'worst_accuracy'"),
    ("norm", "l3", "'norm': expected one of 'linf', 'l2', got 'l3'"),
    ("n", -4, "'n': expected an integer >= 1, got -4"),
    ("budget", -0.1, "'budget'"),
])
def test_row_store_value_ranges(tmp_path, column, value, needle):
    import json
    import warnings

    from cnr.analysis.compare import compare_tables
    from cnr.errors import InputError
    from cnr.eval.rows import RowStoreWarning, append_row, read_rows, rows_path

    good = _shipped_table().iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in good.items()}
    row = {k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}
    row["params"] = str(row.get("params", "{}"))
    bad = {**row, column: value}
    out = tmp_path / "robustness.csv"
    with pytest.raises(InputError, match="refusing to write"):
        append_row(rows_path(out), bad)
    rows_path(out).write_text(json.dumps(bad) + "\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert read_rows(out).empty
    assert any(issubclass(w.category, RowStoreWarning) and needle in str(w.message) for w in seen)
    df = _shipped_table()
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    with pytest.raises(InputError, match="row 2"):
        compare_tables(_shipped_table(), df)


@pytest.mark.parametrize("raw", ["[1, 2]", "3", '"text"', "null"])
def test_weights_metadata_that_is_json_but_not_an_object(tmp_path, raw):
    import torch
    from safetensors.torch import save_file

    from cnr.errors import WeightsError
    from cnr.weights import load_weights, read_metadata

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(1)}, str(path), metadata={"cnr": raw})
    for read in (read_metadata, load_weights):
        with pytest.raises(WeightsError, match=r"w.safetensors has corrupted cnr metadata: a JSON \w+, not an object"):
            read(path)


def test_bank_folder_with_names_that_are_not_qfNN(tmp_path):
    import shutil
    import warnings

    from cnr import RestorerBank
    from cnr.errors import WeightsError
    from cnr.paths import WEIGHTS_DIR

    folder = tmp_path / "bank"
    shutil.copytree(WEIGHTS_DIR / "argan-fmnist-quick", folder)
    shutil.copy(folder / "qf05.safetensors", folder / "qf5x.safetensors")
    (folder / "qfabc.safetensors").write_bytes(b"not weights")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        bank = RestorerBank.load(folder)
    assert bank.qfs == (5, 10, 20, 30, 40, 60)
    assert any("qf5x.safetensors, qfabc.safetensors" in str(w.message) for w in seen)
    shutil.copy(folder / "qf05.safetensors", folder / "qf000.safetensors")
    with pytest.raises(WeightsError, match="QF 0 is not a JPEG quality factor"):
        RestorerBank.load(folder)
    (folder / "qf000.safetensors").unlink()
    shutil.copy(folder / "qf05.safetensors", folder / "qf5.safetensors")
    with pytest.raises(WeightsError, match="two generators for QF 5"):
        RestorerBank.load(folder)


@pytest.mark.parametrize("device, needle", [("gpu0", "'gpu0' is not a device"), ("tpu", "'tpu' is not a device"),
                                            (3, "device must be a string"), ("cuda:7", "cuda")])
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


def _flat_imagenet(tmp_path, labels: bytes):
    from PIL import Image

    root = tmp_path / "val"
    root.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(root / name)
    (root / "labels.txt").write_bytes(labels)
    return root


@pytest.mark.parametrize("kwargs, labels, needle", [
    (dict(root=None), b"a.png 1\nb.png 2\n", "root must be a folder path"),
    (dict(), b"a.png 1\nb.png 2\n\xff\xfe\n", "is not UTF-8 text"),
    (dict(size=0), b"a.png 1\nb.png 2\n", "size .*: expected an integer >= 1, got 0"),
    (dict(size=-224), b"a.png 1\nb.png 2\n", "size .*: expected an integer >= 1, got -224"),
    (dict(size=22.4), b"a.png 1\nb.png 2\n", "size .*: expected an integer >= 1, got float 22.4"),
    (dict(), b"a.png 1\nb.png 2\na.png 3\n", "a.png is listed twice .also on line 1"),
    (dict(num_classes=0), b"a.png 1\nb.png 2\n", "num_classes: expected an integer >= 2"),
])
def test_imagenet_val_arguments(tmp_path, kwargs, labels, needle):
    from cnr.data import ImageNetVal
    from cnr.errors import InputError

    root = _flat_imagenet(tmp_path, labels)
    with pytest.raises(InputError, match=needle):
        ImageNetVal(**{"root": root, **kwargs})


@pytest.mark.parametrize("interpolation", ["nearest", "BILINEAR", None])
def test_load_dataset_names_the_interpolations(interpolation):
    from cnr.data import load_dataset
    from cnr.errors import InputError

    with pytest.raises(InputError, match="valid interpolations: bicubic, bilinear"):
        load_dataset("fmnist", limit=2, interpolation=interpolation)


@pytest.mark.parametrize("argv, needle", [
    (["attack", "--n-images", str(10**12)], "--n-images 1000000000000 is more than the 10,000 images of fmnist"),
    (["attack", "--n-images", "10001"], "--n-images 10001 is more than the 10,000 images of fmnist"),
    (["grid", "--set", "n_costly=10**12"], ("samples.costly", "10**12")),
    (["grid", "--set", "samples.eval=1000000"], ("samples.eval", "1000000", "10,000 images")),
    (["grid", "--set", "samples.blackbox=20000"], ("samples.blackbox", "20000", "10,000 images")),
])
def test_sample_sizes_beyond_the_dataset(capsys, tmp_path, argv, needle):
    code, text = cli(capsys, *argv)
    assert code == 2 and names(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists()


def test_n_images_above_the_profile_sample_is_not_cut_silently(capsys):
    code, text = cli(capsys, "attack", "--defense", "none", "--param", "steps=1", "--n-images", "3",
                     "--set", "n_eval=2", "--set", "n_costly=2")
    assert code == 0 and " n: 3" in text, text


@pytest.mark.parametrize("kwargs, needle", [
    (dict(results_root=5), "results_root must be a folder path .str or Path., got int 5"),
    (dict(results_root=""), "results_root is empty"),
    (dict(seed=2**32), r"seed\b.*\b4294967295\b.*got 4294967296"),  # the bound in full, above the value
    (dict(seed=-1), r"seed\b.*got -1"),
    (dict(retrain="maybe"), "retrain: expected a boolean"),
])
def test_resolve_run_arguments(kwargs, needle):
    from cnr.errors import InputError
    from cnr.run import resolve_run

    with pytest.raises(InputError, match=needle):
        resolve_run("quick", **kwargs)


def test_resolve_run_refuses_a_file_as_results_root(tmp_path):
    from cnr.errors import InputError
    from cnr.run import resolve_run

    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        resolve_run("quick", results_root=tmp_path / "f")


def test_unknown_cell_group_is_refused_by_the_parent(capsys, tmp_path):
    code, text = cli(capsys, "grid", "--set", "grid.groups=('nope',)")
    assert code == 2 and names(text, ("cell group", "nope", "clean, bpda-pgd")), text
    assert "workers exited" not in text and not (tmp_path / "results").exists()


def test_every_shipped_weights_file_carries_a_checksum_that_verifies():
    from safetensors import safe_open

    from cnr.paths import WEIGHTS_DIR
    from cnr.weights import _INTEGRITY_KEY, load_weights

    files = sorted(WEIGHTS_DIR.rglob("*.safetensors"))
    assert len(files) >= 15
    for f in files:
        with safe_open(str(f), framework="pt") as h:
            assert _INTEGRITY_KEY in (h.metadata() or {}), f"{f} has no checksum record"
        load_weights(f)  # raises WeightsError on a checksum mismatch


def test_add_integrity_record_keeps_tensors_and_metadata(tmp_path):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from cnr.errors import WeightsError
    from cnr.weights import add_integrity_record, load_weights

    path = tmp_path / "w.safetensors"
    tensors = {"a": torch.randn(3, 4).half(), "b": torch.arange(5)}
    save_file(tensors, str(path), metadata={"cnr": '{"kind": "test"}'})
    assert add_integrity_record(path) and not add_integrity_record(path)
    again = load_file(str(path))
    assert all(torch.equal(again[k], tensors[k]) and again[k].dtype == tensors[k].dtype for k in tensors)
    with safe_open(str(path), framework="pt") as h:
        assert h.metadata()["cnr"] == '{"kind": "test"}'
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip a bit of the last tensor's data
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_weights(path, dtype=None)

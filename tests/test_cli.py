"""cnr.cli: the command line's own handling of its arguments, across commands: bad input gets one line and exit
code 2, never a traceback, and nothing is written; `cnr attack` runs one cell."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import assert_cli_refuses, mentions, run_cli

from cnr import cli
from cnr.attacks import ATTACKS
from cnr.paths import WEIGHTS_DIR

pytestmark = pytest.mark.usefixtures("scratch_results")  # a command that writes, writes into tmp_path


@pytest.mark.parametrize("argv, needle", [  # the option, its value, and the limit it is above
    (["grid", "--workers", "1000000"], ("--workers", "1000000")),
    (["grid", "--workers", "7", "--set", "groups=('clean',)", "--set", "ns=(1,)", "--set", "sweep_ns=(1,)"],
     ("--workers", "7", "5 cells")),
    (["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--limit", "99999999"],
     ("--limit", "99999999", "10,000")),
    (["restoration-table", "--set", "samples.restoration=100000"], ("samples.restoration", "100000", "10,000")),
])
def test_cli_counts(capsys, tmp_path, argv, needle):
    assert_cli_refuses(capsys, tmp_path, argv, needle)


@pytest.mark.parametrize("argv, needle", [  # the parameter, setting or option, and the value given
    (["attack", "--param", "eot=2.0", "--n-images", "2"], ("'eot'", "'2.0'")),
    (["attack", "--param", "=3", "--n-images", "2"], ("--param", "'=3'")),
    (["attack", "--param", "steps=1", "--param", "steps=2", "--n-images", "2"], ("--param steps", "twice")),
    (["attack", "--param", "step_size=inf", "--n-images", "2"], ("'step_size'", "inf")),
    (["grid", "--set", "grid.ref_linf=1e400"], ("grid.ref_linf", "inf")),
    (["grid", "--set", "linf_budgets=(0.1, 5.0)"], ("grid.linf_budgets", "[0, 1]", "5.0")),
    (["grid", "--set", "grid.l2_budgets=(0.1, 1e999)"], ("grid.l2_budgets", "inf")),
    (["attack", "--budget", "nan", "--n-images", "2"], ("--budget", "NaN")),
])
def test_cli_parsing(capsys, tmp_path, argv, needle):
    assert_cli_refuses(capsys, tmp_path, argv, needle)


@pytest.mark.parametrize("content, needle", [  # which part of the file is wrong, and its value
    (None, ("--run-json", "run.json", "No such file")),
    ('{"profile": ', ("run's JSON", "not valid JSON")),
    ("[1, 2]", ("run's JSON", "list [1, 2]")),
    ('{"profile": {"name": "quick"}, "overrides": 5, "device": "cpu", "retrain": false, "results_root": "r"}',
     ("overrides", "5")),
    ('{"profile": {"name": "nope"}, "overrides": [], "device": "cpu", "retrain": false, "results_root": "r"}',
     ("profile", "'nope'")),
])
def test_corrupt_run_json(capsys, tmp_path, content, needle):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    assert_cli_refuses(capsys, tmp_path, ["grid", "--run-json", str(path)], needle)


@pytest.mark.parametrize("argv", [
    ["attack", "--n-images", "0"],
    ["attack", "--n-images", "-3"],
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--batch-size", "0"],
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--batch-size", "-1"],
    ["train-classifier", "--epochs", "0"],
    ["train-classifier", "--epochs", "-1"],
    ["train-argan", "--steps", "-5"],
    ["grid", "--workers", "0"],
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--limit", "0"],
    ["attack", "--n-images", "1.5"],
    ["train-argan", "--steps", "0"],
])
def test_counts_must_be_positive_integers(capsys, tmp_path, argv):
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, tuple(argv[-2:])) and "Traceback" not in text, text  # the option, the value
    assert not (tmp_path / "results").exists()  # nothing was written


@pytest.mark.parametrize("argv, needle", [
    (["grid", "--set", "grid.qf_range=(20, 40, 60)"], ("grid.qf_range", "(20, 40, 60)")),
    (["grid", "--set", "qf_range=20-60"], ("grid.qf_range", "20-60")),  # an older name reports its path
    (["grid", "--set", "samples.eval=abc"], ("samples.eval", "'abc'")),
    (["grid", "--set", "n_eval=abc"], ("samples.eval", "'abc'")),
    (["grid", "--set", "nope=1"], "'nope'"),
    (["grid", "--set", "attacks.pgd.stesp=3"], ("'stesp'", "'pgd'")),
    (["grid", "--set", "attacks.nope.steps=3"], ("attacks.nope", "'nope'")),
    (["grid", "--set", "attacks.pgd.steps=0"], ("'pgd'", "'steps'")),
    (["grid", "--set", "attacks.clean.steps=3"], ("'clean'", "attacks.clean")),
    (["grid", "--seed", "abc"], "--seed"),
    (["attack", "--param", "random_start=maybe", "--n-images", "2"], "random_start"),
    (["attack", "--param", "stesp=3", "--n-images", "2"], "stesp"),
    (["attack", "--attack", "deepfool", "--param", "candidates=0", "--norm", "l2", "--n-images", "2"],
     ("'candidates'", "0")),
])
def test_parameters_parsed_strictly(capsys, argv, needle):
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text


def test_boolean_parameter_no_means_false(capsys):
    code, text = run_cli(capsys, "attack", "--defense", "none", "--param", "random_start=no", "--param", "steps=1",
                     "--n-images", "2")
    assert code == 0 and '"random_start": false' in text


@pytest.mark.parametrize("argv", [
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--device", "cuda"],
    ["train-argan", "--device", "cuda", "--steps", "1"],
    ["restoration-table", "--device", "cuda"],
    ["grid", "--device", "cuda:3"],
])
def test_a_device_that_is_not_there(capsys, argv):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, text = run_cli(capsys, *argv)
    assert code == 2 and f"--device {argv[argv.index('--device') + 1]}" in text and "Traceback" not in text, text


def test_the_console_script_prints_no_traceback():
    out = subprocess.run([sys.executable, "-m", "cnr", "attack", "--n-images", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_budget_text_that_overflows_is_refused(capsys):
    code, text = run_cli(capsys, "attack", "--budget", "1e400", "--n-images", "2")
    assert code == 2 and mentions(text, ("--budget", "'1e400'")), text


@pytest.mark.parametrize("argv, needle", [
    (["attack", "--n-images", str(10**12)], ("--n-images", "1000000000000", "10,000")),
    (["attack", "--n-images", "10001"], ("--n-images", "10001", "10,000")),
    (["grid", "--set", "n_costly=10**12"], ("samples.costly", "10**12")),
    (["grid", "--set", "samples.eval=1000000"], ("samples.eval", "1000000", "10,000 images")),
    (["grid", "--set", "samples.blackbox=20000"], ("samples.blackbox", "20000", "10,000 images")),
])
def test_sample_sizes_beyond_the_dataset(capsys, tmp_path, argv, needle):
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists()


def test_n_images_above_the_profile_sample_is_not_cut_silently(capsys):
    code, text = run_cli(capsys, "attack", "--defense", "none", "--param", "steps=1", "--n-images", "3",
                     "--set", "n_eval=2", "--set", "n_costly=2")
    assert code == 0 and " n: 3" in text, text


def test_cli_attack_one_cell_and_unknown_names(capsys):
    assert cli.main(["attack", "--profile", "smoke", "--set", "draws=3", "--defense", "jpeg", "--attack", "pgd",
                     "--budget", "0.1", "--n-images", "8", "--param", "steps=2"]) == 0
    text = capsys.readouterr().out
    out = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in text.splitlines() if ":" in ln}
    assert out["n"] == "8" and out["draws"] == "3" and out["defense"] == "jpeg" and out["params"] == '{"steps": 2}'
    assert out["n_forward"] == str(1 + 3 * 8) and out["overrides"] == '{"samples.draws": 3}'
    # before it starts: the cell, every effective parameter, the images and draws; the row repeats the parameters
    assert out["cell"].startswith("pgd (the profile's settings of pgd) on jpeg, linf 0.1, bpda gradients")
    assert mentions(" ".join(text.split()), ("eot=1,", "steps=2", "images: 8 (sample 'eval'), scored on 3 fresh draws"))
    assert json.loads(out["effective_params"]) == {**ATTACKS["pgd"].defaults, "steps": 2, "batch_size": 250}
    assert max(map(len, text.split("\n             dataset:")[0].splitlines())) <= 100
    assert float(out["accuracy"]) == pytest.approx(0.0, abs=1 / 8)  # BPDA PGD at Linf 0.1 breaks JPEG (pinned: 0/8)
    assert cli.main(["attack", "--profile", "smoke", "--defense", "magic"]) == 2
    assert mentions(capsys.readouterr().err, ("'magic'", "dynamic-N1"))  # and the valid names
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--attack", "nope", "--n-images", "4"]) == 2
    assert "pgd" in capsys.readouterr().err
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--param", "steps=x", "--n-images", "4"]) == 2
    assert mentions(capsys.readouterr().err, ("'steps'", "'x'"))


def test_cli_info_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cnr", "info", "--profile", "imagenet"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch" in out.stdout and "Fashion-MNIST:" in out.stdout and "run imagenet (profile imagenet):" in out.stdout
    assert "classifier efficientnet-lite0: from EfficientNet-Lite0 package" in out.stdout
    assert max(map(len, out.stdout.splitlines())) <= 100
    for folder in (p for p in WEIGHTS_DIR.iterdir() if p.is_dir()):  # every shipped bank, not the first only
        assert f"shipped {folder.name}/:" in out.stdout, folder


def test_accuracy_and_compare_take_the_profile_like_every_command(capsys, tmp_path):
    code, text = run_cli(capsys, "accuracy", "--profile", "smoke", "--limit", "20")
    assert code == 0 and "classifier fmnist-cnn on fmnist: accuracy" in text and "n=20" in text, text
    code, text = run_cli(capsys, "accuracy", "--profile", "imagenet", "--dataset", "foolbox-imagenet", "--limit", "4")
    assert code == 0 and "classifier efficientnet-lite0 on foolbox-imagenet" in text, text
    from cnr.paths import RESULTS_DIR

    shipped = RESULTS_DIR / "quick" / "tables" / "robustness.csv"
    (tmp_path / "results" / "quick" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "quick" / "tables" / "robustness.csv").write_bytes(shipped.read_bytes())
    code, text = run_cli(capsys, "compare", str(shipped), "--profile", "quick")  # the run's own table as reference
    assert code == 0 and "rows matched" in text and "bit-identical" in text, text
    code, text = run_cli(capsys, "compare", str(shipped), str(shipped), str(shipped))
    assert code == 2 and "one or two tables" in text, text


@pytest.mark.parametrize("argv, needle", [  # settings that contradict each other or run past a bound
    (["accuracy", "--classifier", "fmnist-cnn", "--dataset", "foolbox-mnist"],
     ("fmnist-cnn", "foolbox-mnist", "labels")),
    (["attack", "--defense", "dynamic-N99999", "--n-images", "2"], ("dynamic-N99999", "99999", "100")),
    (["attack", "--budget", "5", "--n-images", "2"], ("budget 5", "Linf")),
    (["attack", "--attack", "hsj", "--norm", "l2", "--param", "max_gradient_eval_steps=5", "--n-images", "2"],
     ("max_gradient_eval_steps=5", "initial_gradient_eval_steps")),
])
def test_cli_semantics(capsys, tmp_path, argv, needle):
    assert_cli_refuses(capsys, tmp_path, argv, needle)


@pytest.mark.parametrize("argv", [
    ["train-classifier", "--epochs", "1", "--out", "cnr/shipped/fmnist-cnn.safetensors"],
    ["train-classifier", "--epochs", "1", "--out", "results/../cnr/shipped/fmnist-cnn.safetensors"],
    ["train-argan", "--qf", "20", "--out", "cnr/shipped/argan-fmnist-quick"],
    ["train-argan", "--qf", "20", "--out", "results/../cnr/shipped/argan-fmnist-quick"],
])
def test_cli_refuses_to_overwrite_shipped_weights(capsys, tmp_path, monkeypatch, argv):
    from cnr.paths import REPO_ROOT

    monkeypatch.chdir(REPO_ROOT)
    before = {p: p.stat().st_mtime_ns for p in WEIGHTS_DIR.rglob("*")}
    assert_cli_refuses(capsys, tmp_path, argv, ("shipped", "--overwrite-shipped"))
    assert {p: p.stat().st_mtime_ns for p in WEIGHTS_DIR.rglob("*")} == before

"""cnr.cli: the command line's own handling of its arguments, across commands: bad input gets one line and exit
code 2, never a traceback, and nothing is written; `cnr attack` runs one cell."""
from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import assert_cli_refuses, mentions, run_cli

from cnr import cli
from cnr.paths import WEIGHTS_DIR


@pytest.mark.usefixtures("scratch_results")
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


@pytest.mark.usefixtures("scratch_results")
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


@pytest.mark.usefixtures("scratch_results")
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


@pytest.mark.usefixtures("scratch_results")
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
    code, text = run_cli(capsys, *argv)
    assert code == 2 and needle in text and "Traceback" not in text
    assert not (tmp_path / "results").exists()  # nothing was written


@pytest.mark.usefixtures("scratch_results")
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
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text


@pytest.mark.usefixtures("scratch_results")
def test_boolean_parameter_no_means_false(capsys):
    code, text = run_cli(capsys, "attack", "--defense", "none", "--param", "random_start=no", "--param", "steps=1",
                     "--n-images", "2")
    assert code == 0 and '"random_start": false' in text


@pytest.mark.usefixtures("scratch_results")
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
    assert code == 2 and "CUDA was asked for" in text and "Traceback" not in text


@pytest.mark.usefixtures("scratch_results")
def test_the_console_script_prints_no_traceback():
    out = subprocess.run([sys.executable, "-m", "cnr", "attack", "--n-images", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr


@pytest.mark.usefixtures("scratch_results")
def test_budget_text_that_overflows_is_refused(capsys):
    code, text = run_cli(capsys, "attack", "--budget", "1e400", "--n-images", "2")
    assert code == 2 and "overflows to infinity" in text


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("argv, needle", [
    (["attack", "--n-images", str(10**12)], "--n-images 1000000000000 is more than the 10,000 images of fmnist"),
    (["attack", "--n-images", "10001"], "--n-images 10001 is more than the 10,000 images of fmnist"),
    (["grid", "--set", "n_costly=10**12"], ("samples.costly", "10**12")),
    (["grid", "--set", "samples.eval=1000000"], ("samples.eval", "1000000", "10,000 images")),
    (["grid", "--set", "samples.blackbox=20000"], ("samples.blackbox", "20000", "10,000 images")),
])
def test_sample_sizes_beyond_the_dataset(capsys, tmp_path, argv, needle):
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists()


@pytest.mark.usefixtures("scratch_results")
def test_n_images_above_the_profile_sample_is_not_cut_silently(capsys):
    code, text = run_cli(capsys, "attack", "--defense", "none", "--param", "steps=1", "--n-images", "3",
                     "--set", "n_eval=2", "--set", "n_costly=2")
    assert code == 0 and " n: 3" in text, text


def test_cli_attack_one_cell_and_unknown_names(capsys):
    assert cli.main(["attack", "--profile", "smoke", "--set", "draws=3", "--defense", "jpeg", "--attack", "pgd",
                     "--budget", "0.1", "--n-images", "8", "--param", "steps=2"]) == 0
    out = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in capsys.readouterr().out.splitlines()}
    assert out["n"] == "8" and out["draws"] == "3" and out["defense"] == "jpeg" and out["params"] == '{"steps": 2}'
    assert out["n_forward"] == str(1 + 3 * 8) and out["overrides"] == '{"samples.draws": 3}'
    assert float(out["accuracy"]) == pytest.approx(0.0, abs=1 / 8)  # BPDA PGD at Linf 0.1 breaks JPEG (pinned: 0/8)
    assert cli.main(["attack", "--profile", "smoke", "--defense", "magic"]) == 2
    assert "unknown defense 'magic'; valid defenses: dynamic-N1" in capsys.readouterr().err
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--attack", "nope", "--n-images", "4"]) == 2
    assert "pgd" in capsys.readouterr().err
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--param", "steps=x", "--n-images", "4"]) == 2
    assert "parameter 'steps': expected an integer" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--limit", "0"],
    ["accuracy", "--classifier", "fmnist-cnn", "--dataset", "fmnist", "--batch-size", "-3"],
    ["train-classifier", "--epochs", "0"],
    ["grid", "--workers", "0"],
    ["attack", "--n-images", "1.5"],
    ["train-argan", "--steps", "0"],
])
def test_cli_counts_must_be_positive_integers(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and "expected an integer >= 1" in capsys.readouterr().err


def test_cli_info_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "cnr", "info"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch" in out.stdout and "Fashion-MNIST:" in out.stdout
    from cnr.paths import relative

    assert f" files in {relative(WEIGHTS_DIR)}: " in out.stdout.split("shipped weights:")[1].splitlines()[0]

"""cnr.run: a run's folder from its profile and overrides, the weights it reads, its JSON form for the grid's
workers, and the arguments it refuses."""
from __future__ import annotations

import json

import pytest
from helpers import mentions, run_cli

from cnr.config import PROFILES
from cnr.errors import InputError
from cnr.paths import RESULTS_DIR, WEIGHTS_DIR
from cnr.run import Run, resolve_run, with_overrides


def test_run_names_its_folder_after_profile_and_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("CNR_RESULTS", raising=False)
    run = resolve_run("smoke", {"samples.eval": 4, "grid.linf_budgets": (0.1, 0.3)}, seed=2, results_root=tmp_path)
    assert run.name == "smoke+grid.linf_budgets=0.1-0.3,samples.eval=4,seed=2"  # sorted paths, another seed too
    assert run.profile.samples.eval == 4 and run.seed == 2 and run.device == "cpu"
    assert run.overrides == (("grid.linf_budgets", (0.1, 0.3)), ("samples.eval", 4), ("seed", 2))
    # an older name is stored by its path: the same run, the same folder
    assert resolve_run("smoke", {"n_eval": 4, "linf_budgets": (0.1, 0.3)}, seed=2, results_root=tmp_path) == run
    out = tmp_path / run.name
    assert (run.out_dir, run.tables_dir, run.figures_dir, run.notebooks_dir, run.models_dir) == (
        out, out / "tables", out / "figures", out / "notebooks", out / "models")
    assert run.robustness_csv == out / "tables" / "robustness.csv"
    assert run.restoration_csv == out / "tables" / "restoration.csv"
    assert run.record_path("03_robustness.ipynb") == out / "notebooks" / "03_robustness.json"
    assert run.describe() == {"profile": "smoke",  # the seed is a key column of the rows, not an override there
                              "overrides": '{"grid.linf_budgets": [0.1, 0.3], "samples.eval": 4}'}
    assert resolve_run("smoke").results_root == str(RESULTS_DIR)
    long = resolve_run("smoke", {"grid.linf_budgets": tuple(i / 100 for i in range(1, 30))})
    assert long.name.startswith("smoke+") and len(long.name) == len("smoke+") + 10  # hashed, still a folder name
    assert not list(tmp_path.iterdir())  # resolving writes nothing


def test_results_root_from_the_argument_then_cnr_results(tmp_path, monkeypatch):
    monkeypatch.setenv("CNR_RESULTS", str(tmp_path / "scratch"))
    assert resolve_run("smoke").out_dir == tmp_path / "scratch" / "smoke"
    assert resolve_run("smoke", results_root=tmp_path / "given").out_dir == tmp_path / "given" / "smoke"
    assert not list(tmp_path.iterdir())


def test_run_reads_shipped_weights_unless_retraining(tmp_path):
    run = resolve_run("smoke", results_root=tmp_path)
    assert run.bank_dir("fmnist") == WEIGHTS_DIR / "argan-fmnist-quick"
    assert run.bank_dir("natural") == WEIGHTS_DIR / "argan-natural-quick-residual"
    assert run.bank_preset("fmnist") == "quick" and run.bank_preset("natural") == "quick-residual"
    assert run.classifier_weights() == WEIGHTS_DIR / "fmnist-cnn.safetensors"
    assert run.classifier_weights("resnet50") is None  # from torchvision, not from the kit
    for path in (run.bank_dir("fmnist") / "qf05.safetensors", run.bank_dir("natural") / "static.safetensors",
                 run.classifier_weights()):
        assert path.is_file(), path
    re = resolve_run("smoke", retrain=True, results_root=tmp_path)
    assert re.bank_dir("fmnist") == tmp_path / "smoke" / "models" / "argan-fmnist-quick"
    assert re.classifier_weights() == tmp_path / "smoke" / "models" / "fmnist-cnn.safetensors"
    full = resolve_run("full", device="cpu", results_root=tmp_path)
    assert full.bank_dir("natural") == WEIGHTS_DIR / "argan-natural-paper"
    with pytest.raises(InputError, match=r"unknown bank family 'rgb'.*'natural' \(RGB photos\).*shipped banks: .*"
                                         r"argan-natural-quick-residual"):
        run.bank_dir("rgb")


def test_run_round_trips_through_json_with_its_overrides(tmp_path):
    run = resolve_run("smoke", {"grid.qf_range": (30, 50), "grid.ns": (1, 3), "attacks.pgd.steps": 7}, seed=5,
                      retrain=True, results_root=tmp_path)
    back = Run.from_json(run.to_json())
    assert back == run and back.profile.grid.qf_range == (30, 50) and back.name == run.name
    assert back.profile.attacks["pgd"]["steps"] == 7
    bad = json.loads(run.to_json())
    bad["profile"]["samples"]["eval"] = "many"
    with pytest.raises(InputError, match=r"samples\.eval"):
        Run.from_json(json.dumps(bad))
    bad = json.loads(run.to_json())
    bad["profile"]["samples"]["evil"] = 3
    with pytest.raises(InputError, match="'evil'"):
        Run.from_json(json.dumps(bad))


def test_with_overrides_adds_fields_and_renames(tmp_path):
    run = resolve_run("smoke", {"samples.eval": 4}, results_root=tmp_path)
    more = with_overrides(run, **{"samples.draws": 3, "samples.eval": 6})
    assert more.profile.samples.draws == 3 and more.profile.samples.eval == 6 and run.profile.samples.eval == 4
    assert more.name == "smoke+samples.draws=3,samples.eval=6" and more.results_root == run.results_root
    assert with_overrides(run, draws=3, n_eval=6) == more  # the older names, as aliases
    with pytest.raises(InputError, match=r"samples\.draws"):
        with_overrides(run, draws=2.5)
    with pytest.raises(InputError, match="takes a profile name"):
        resolve_run(PROFILES["smoke"])
    with pytest.raises(InputError, match="'tpu9'"):
        resolve_run("smoke", device="tpu9")


def test_worker_run_json_with_a_bad_device(tmp_path):
    from cnr.run import Run, resolve_run

    d = json.loads(resolve_run("smoke").to_json())
    d["device"] = "tpu"
    with pytest.raises(InputError, match="device.*'tpu'"):
        Run.from_json(json.dumps(d))


@pytest.mark.usefixtures("scratch_results")
def test_results_root_from_the_environment_is_a_file(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CNR_RESULTS", str(tmp_path / "file"))
    code, text = run_cli(capsys, "grid", "--workers", "1")
    assert code == 2 and mentions(text, ("CNR_RESULTS", str(tmp_path / "file"), "is a file")), text
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("kwargs, needle", [
    (dict(results_root=5), r"results_root\b.*int 5"),
    (dict(results_root=""), r"results_root\b.*empty"),
    (dict(seed=2**32), r"seed\b.*\b4294967295\b.*got 4294967296"),  # the bound in full, above the value
    (dict(seed=-1), r"seed\b.*got -1"),
    (dict(retrain="maybe"), r"retrain\b.*'maybe'"),
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
    with pytest.raises(InputError, match=rf"{tmp_path / 'f'}\b.*is a file"):
        resolve_run("quick", results_root=tmp_path / "f")


def test_paper_run_resolves_the_natural_bank(tmp_path):
    run = resolve_run("paper", {"bank.preset_natural": "quick-residual"}, results_root=tmp_path)
    assert run.profile.data.dataset == "imagenet" and run.device == "cpu"
    assert run.bank_dir("natural").name == "argan-natural-quick-residual" and run.bank_dir("natural").is_dir()
    assert run.out_dir == tmp_path / "paper+bank.preset_natural=quick-residual"
    # the older name is the same setting, stored by its path: the same run
    assert resolve_run("paper", {"argan_preset_natural": "quick-residual"}, results_root=tmp_path) == run


def test_resolve_run_takes_overrides_as_a_dict():
    with pytest.raises(InputError, match=r"overrides\b.*got str 'n_eval=5'"):
        resolve_run("quick", "n_eval=5")


def test_cnr_results_expands_home(tmp_path, monkeypatch, capsys):
    """CNR_RESULTS='~/out' is the home folder's out, not a folder named "~" in the working directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CNR_RESULTS", "~/out")
    assert resolve_run("smoke").results_root == str(tmp_path / "out")
    monkeypatch.setenv("CNR_RESULTS", "/dev/null")
    code, text = run_cli(capsys, "attack", "--n-images", "2")
    assert code == 2 and mentions(text, ("CNR_RESULTS", "/dev/null")) and "Traceback" not in text, text


def test_with_overrides_unknown_setting():
    with pytest.raises(InputError, match="'bogus'"):
        with_overrides(resolve_run("smoke"), bogus=1)


def test_a_seed_other_than_the_profiles_is_a_run_of_its_own(tmp_path):
    default = PROFILES["quick"].seed
    assert resolve_run("quick", seed=default, results_root=tmp_path).name == "quick"
    other = resolve_run("quick", seed=default + 1, results_root=tmp_path)
    assert other.name == f"quick+seed={default + 1}" and other.out_dir == tmp_path / f"quick+seed={default + 1}"
    assert resolve_run("quick", {"seed": default + 1}, results_root=tmp_path) == other


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("argv, needle", [
    (["grid", "--profile", "smoke", "--set", "seed=1", "--seed", "2"], ("seed", "twice")),
])
def test_cli_refuses_a_setting_given_twice(capsys, tmp_path, argv, needle):
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, needle) and not (tmp_path / "results").exists(), text


@pytest.mark.usefixtures("scratch_results")
def test_cli_refuses_a_run_json_whose_overrides_disagree_with_its_profile(capsys, tmp_path):
    d = json.loads(resolve_run("smoke", {"samples.eval": 5}).to_json())
    d["overrides"] = [["samples.eval", 7]]
    (tmp_path / "run.json").write_text(json.dumps(d))
    code, text = run_cli(capsys, "grid", "--run-json", str(tmp_path / "run.json"), "--workers", "1")
    assert code == 2 and mentions(text, ("overrides", "smoke")) and not (tmp_path / "results").exists(), text

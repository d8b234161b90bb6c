"""cnr.training: banks and the classifier trained into the run's models folder (never the shipped weights),
finished files skipped, the `cnr train-argan` command and the command that regenerates a file."""
from __future__ import annotations

import pytest
from helpers import corpus_or_skip, run_cli

from cnr.classifiers import train_fmnist as tc
from cnr.errors import InputError, WeightsError
from cnr.paths import WEIGHTS_DIR
from cnr.run import resolve_run
from cnr.training import load_bank, retrain_banks, retrain_classifier, train_argan_cli, train_bank, train_command
from cnr.weights import read_metadata


def test_load_bank_of_a_retrain_run_says_how_to_train_it(tmp_path):
    run = resolve_run("smoke", retrain=True, results_root=tmp_path)
    folder = tmp_path / "smoke" / "models" / "argan-fmnist-quick"
    with pytest.raises(WeightsError, match=f"no AR-GAN weights .*in {folder}.*Train it with: cnr train-argan "
                                           f"--dataset fmnist --qf all --profile smoke --out {folder}"):
        load_bank(run, "fmnist")


def test_train_bank_skips_finished_files_and_defaults_to_the_runs_models(tmp_path, capsys):
    run = resolve_run("smoke", results_root=tmp_path)
    kw = dict(preset="tiny", qfs=(5,), progress=False, pretrain_steps=3, gan_steps=1, perceptual=None, n_val=16)
    bank = train_bank(run, "fmnist", **kw)
    folder = tmp_path / "smoke" / "models" / "argan-fmnist-tiny"  # never weights/
    assert sorted(p.name for p in folder.iterdir()) == ["qf05.safetensors", "static.safetensors"]
    assert bank.qfs == (5,) and bank.has_static
    meta = read_metadata(folder / "static.safetensors")
    assert meta["command"] == "cnr train-argan --dataset fmnist --qf static --profile smoke --preset tiny"
    assert (meta["steps"], meta["batch"], meta["seed"], meta["architecture"]["preset"]) == (4, 8, 0, "tiny")
    stamp = (folder / "qf05.safetensors").stat().st_mtime_ns
    train_bank(run, "fmnist", **kw)
    assert capsys.readouterr().out.count("up to date") == 2
    assert (folder / "qf05.safetensors").stat().st_mtime_ns == stamp
    train_bank(run, "fmnist", **{**kw, "pretrain_steps": 4, "static": False})  # other settings: retrained
    assert "training" in capsys.readouterr().out and read_metadata(folder / "qf05.safetensors")["steps"] == 5
    assert (folder / "qf05.safetensors").stat().st_mtime_ns != stamp


def test_warm_started_natural_bank_trains_static_first(tmp_path, capsys):
    corpus_or_skip()
    from cnr.training import _settings

    recipe = (("pixel", "l2"), ("ssim_weight", 0.0), ("gan_steps", 0), ("warm_start", True),
              ("pretrain_steps_by_qf", (("static", 3), (10, 2))))
    run = resolve_run("smoke", {"argan_natural_train": recipe, "argan_batch": 4, "argan_patch": 32},
                      results_root=tmp_path)
    s = _settings(run.profile, "natural", None, 10)
    assert (s["pretrain_steps"], s["gan_steps"], s["pixel"]) == (2, 0, "l2") and "warm_start" not in s
    assert _settings(run.profile, "natural", None, 20)["pretrain_steps"] == run.profile.bank.pretrain_steps
    assert _settings(run.profile, "fmnist", None, 60)["pretrain_steps"] == 20  # smoke's own steps for Fashion-MNIST
    with pytest.raises(InputError, match="static"):
        train_argan_cli(run, "natural", "10", preset="tiny", out=str(tmp_path / "nat"))
    bank = train_bank(run, "natural", out_dir=tmp_path / "nat", preset="tiny", qfs=(10,), progress=False, n_val=8)
    out = capsys.readouterr().out
    assert out.index("static.safetensors") < out.index("qf10.safetensors") and bank.has_static
    meta = read_metadata(tmp_path / "nat" / "qf10.safetensors")
    assert meta["init_from"]["file"] == "static.safetensors" and meta["steps"] == 2
    assert read_metadata(tmp_path / "nat" / "static.safetensors")["steps"] == 3
    train_bank(run, "natural", out_dir=tmp_path / "nat", preset="tiny", qfs=(10,), progress=False, n_val=8)
    assert capsys.readouterr().out.count("up to date") == 2


def test_train_argan_cli_one_qf_into_the_runs_models_and_errors(tmp_path, monkeypatch):
    from cnr import cli

    monkeypatch.setenv("CNR_RESULTS", str(tmp_path))  # the CLI's results root, for this test only
    assert cli.main(["train-argan", "--profile", "smoke", "--set", "argan_batch=4", "--qf", "10", "--preset", "tiny",
                     "--steps", "2", "--gan-steps", "1"]) == 0
    path = tmp_path / "smoke+bank.batch=4" / "models" / "argan-fmnist-tiny" / "qf10.safetensors"
    meta = read_metadata(path)
    assert (meta["qf"], meta["steps"], meta["batch"], meta["dataset"]) == (10, 3, 4, "fmnist")
    assert meta["losses"]["perceptual_net"] == "fmnist-cnn"  # the GAN step's perceptual term: the kit's classifier
    assert meta["val"]["psnr_jpeg"] > 0 and not path.with_suffix(".ckpt.safetensors").exists()
    run = resolve_run("smoke", results_root=tmp_path)
    out = train_argan_cli(run, "fmnist", "20", preset="tiny", out=str(tmp_path / "named"), steps=1, gan_steps=0)
    assert list(out) == [20] and (tmp_path / "named" / "qf20.safetensors").is_file()
    # a finished file with the same settings is never trained again (a queue may name a QF that is done)
    stamp = (tmp_path / "named" / "qf20.safetensors").stat().st_mtime_ns
    again = train_argan_cli(run, "fmnist", "20", preset="tiny", out=str(tmp_path / "named"), steps=1, gan_steps=0)
    assert again == out and (tmp_path / "named" / "qf20.safetensors").stat().st_mtime_ns == stamp
    for bad in ("high", "-5", "10.5"):
        with pytest.raises(InputError, match="--qf must be a quality factor"):
            train_argan_cli(run, "fmnist", bad)


def test_retrain_banks_trains_each_family_into_the_runs_models(tmp_path, monkeypatch):
    import cnr.training as pipeline

    calls = []
    monkeypatch.setattr(pipeline, "train_bank", lambda run, family: calls.append(family))
    run = resolve_run("smoke", retrain=True, results_root=tmp_path)
    folders = retrain_banks(run)
    assert calls == ["fmnist", "natural"]
    assert folders == [run.bank_dir("fmnist"), run.bank_dir("natural")]
    assert folders[1] == tmp_path / "smoke" / "models" / "argan-natural-quick-residual"


def test_train_command_regenerates_the_runs_settings():
    run = resolve_run("smoke", {"argan_batch": 4}, seed=3)
    cmd = train_command("fmnist", 10, run)
    assert "--seed 3" in cmd and "bank.batch=4" in cmd


@pytest.mark.usefixtures("scratch_results")
def test_argan_out_folder_is_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, text = run_cli(capsys, "train-argan", "--qf", "10", "--steps", "1", "--out", str(tmp_path / "file"))
    assert code == 2 and "is a file, not a folder" in text and (tmp_path / "file").read_text() == "x"


def test_retrain_classifier_writes_into_the_runs_models_folder(tmp_path, monkeypatch):
    from cnr.run import resolve_run

    calls = []
    monkeypatch.setattr(tc, "train_fmnist_cnn", lambda out, **kw: calls.append((out, kw)) or {})
    run = resolve_run("smoke", {"clf_epochs": 2}, seed=4, retrain=True, results_root=tmp_path)
    out = retrain_classifier(run)
    assert out == tmp_path / "smoke+clf.epochs=2,seed=4" / "models" / "fmnist-cnn.safetensors" == calls[0][0]
    assert calls[0][1]["epochs"] == 2 and calls[0][1]["seed"] == 4 and calls[0][1]["train_limit"] == 2000


def test_retrain_classifier_never_targets_the_shipped_weights(tmp_path, monkeypatch):
    from cnr.run import resolve_run

    calls = []
    monkeypatch.setattr(tc, "train_fmnist_cnn", lambda out, **kw: calls.append(out) or {})  # never trains
    retrain_classifier(resolve_run("smoke", results_root=tmp_path))
    assert not calls[0].resolve().is_relative_to(WEIGHTS_DIR.resolve())

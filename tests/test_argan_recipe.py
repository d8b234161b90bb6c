"""cnr.argan.recipe: one answer to "is this the same training?" for the bank trainer and checkpoint resumption."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpus_or_skip

from cnr.argan.generator import build_generator
from cnr.argan.recipe import OPTIONAL_KEYS, same_training, training_recipe
from cnr.argan.train import train_argan
from cnr.classifiers import FashionCNN
from cnr.config.training import TrainSettings
from cnr.paths import WEIGHTS_DIR
from cnr.run import resolve_run
from cnr.training import _is_done, bank_plan, train_bank
from cnr.weights import read_metadata, save_weights

BASE = dict(dataset="fmnist", preset="tiny", pretrain_steps=3, gan_steps=2, batch=8, patch=28, seed=0)


def _recorded(qf, **settings):
    """A recipe as read back from a file's metadata (through JSON, as save_weights stores it)."""
    return json.loads(json.dumps(training_recipe(qf, TrainSettings(**{**BASE, **settings}))))


@pytest.mark.parametrize("change", [
    dict(preset="quick"), dict(dataset="natural", in_channels=3), dict(pretrain_steps=4), dict(gan_steps=3),
    dict(pretrain_steps=2, gan_steps=3),  # the same number of steps, divided otherwise between the phases
    dict(batch=16), dict(patch=16), dict(seed=1), dict(lr=2e-3), dict(pixel="l2"), dict(ssim_weight=0.25),
    dict(perceptual_weight=0.2), dict(adv_weight=1e-2), dict(perceptual=None), dict(perceptual="other-net"),
])
def test_every_setting_that_makes_the_weights_makes_another_training(change):
    recipe = training_recipe(10, TrainSettings(**{**BASE, **change}))
    assert same_training(_recorded(10), training_recipe(10, TrainSettings(**BASE)))
    assert not same_training(_recorded(10), recipe)


def test_qf_and_the_static_set_are_part_of_the_training():
    assert not same_training(_recorded(10), training_recipe(20, TrainSettings(**BASE)))
    assert not same_training(_recorded("static"), training_recipe(10, TrainSettings(**BASE)))
    assert not same_training(_recorded("static"), training_recipe([5, 10], TrainSettings(**BASE)))


@pytest.mark.parametrize("change", [dict(ckpt_every=1), dict(val_every=1), dict(n_val=8), dict(stop_after=1),
                                    dict(progress=False), dict(amp=False)])
def test_how_a_run_is_carried_out_is_not_part_of_the_training(change):
    assert same_training(_recorded(10), training_recipe(10, TrainSettings(**{**BASE, **change})))


def test_a_perceptual_weight_without_a_gan_phase_changes_nothing():
    # the perceptual term only exists in the GAN phase: with none, its weight and network are recorded as unused
    assert same_training(_recorded(10, gan_steps=0), training_recipe(10, TrainSettings(
        **{**BASE, "gan_steps": 0, "perceptual_weight": 0.7, "perceptual": "other-net"})))


def test_a_recorded_warm_start_or_source_the_request_lacks_is_another_training():
    recorded = _recorded(10)
    for key in OPTIONAL_KEYS:
        assert not same_training({**recorded, key: "something"}, training_recipe(10, TrainSettings(**BASE)))
    # fields that say how the file was made (not what) are ignored
    assert same_training({**recorded, "command": "x", "train_seconds": 3.0, "val": {}},
                         training_recipe(10, TrainSettings(**BASE)))


def _generator_file(path: Path, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    g = build_generator("tiny", 1)
    return save_weights(path, g.state_dict(), {"qf": "static", "steps": 5, "dataset": "fmnist",
                                               "architecture": {**g.architecture(), "preset": "tiny"}})


def test_a_warm_start_is_the_same_only_from_the_same_weights(tmp_path):
    static = _generator_file(tmp_path / "static.safetensors", seed=0)
    recorded = json.loads(json.dumps(training_recipe(10, TrainSettings(**BASE, init_from=static))))
    assert recorded["init_from"]["file"] == "static.safetensors" and len(recorded["init_from"]["sha256"]) == 64
    assert same_training(recorded, training_recipe(10, TrainSettings(**BASE, init_from=static)))
    assert not same_training(recorded, training_recipe(10, TrainSettings(**BASE)))  # from scratch
    _generator_file(static, seed=1)  # the static generator was retrained: same name, other weights
    assert not same_training(recorded, training_recipe(10, TrainSettings(**BASE, init_from=static)))


def test_train_argan_records_each_setting_under_its_own_name(tmp_path):
    # every value distinct, so that two settings read in each other's place would show
    settings = dict(dataset="fmnist", preset="tiny", pretrain_steps=1, gan_steps=2, batch=4, patch=16, seed=5,
                    lr=2e-3, pixel="l2", ssim_weight=0.25, perceptual_weight=0.3, adv_weight=0.004)
    out = tmp_path / "qf10.safetensors"
    train_argan(10, out_path=out, perceptual=FashionCNN(), n_val=8, progress=False, **settings)
    meta = read_metadata(out)
    assert {k: meta[k] for k in ("pretrain_steps", "gan_steps", "steps", "batch", "patch", "seed", "lr")} == dict(
        pretrain_steps=1, gan_steps=2, steps=3, batch=4, patch=16, seed=5, lr=2e-3)
    assert meta["losses"] == dict(pixel="l2", ssim=0.25, perceptual=0.3, perceptual_net="FashionCNN",
                                  adversarial=0.004)
    assert same_training(meta, training_recipe(10, TrainSettings(**settings, perceptual=FashionCNN())))


def _natural_run(tmp_path, patch):
    """The smoke profile without the natural bank's own settings, so that argan_patch reaches the natural bank."""
    return resolve_run("smoke", {"argan_natural_train": (), "argan_patch": patch, "argan_batch": 4},
                       results_root=tmp_path)


def test_a_bank_of_another_patch_or_phase_split_is_not_up_to_date(tmp_path, capsys):
    corpus_or_skip()
    kw = dict(out_dir=tmp_path / "nat", preset="tiny", qfs=(10,), static=False, progress=False, n_val=4,
              pretrain_steps=1, gan_steps=0, ssim_weight=0.0)  # one pixel-loss step: seconds
    path = tmp_path / "nat" / "qf10.safetensors"
    train_bank(_natural_run(tmp_path, 32), "natural", **kw)
    assert read_metadata(path)["patch"] == 32 and "training" in capsys.readouterr().out
    train_bank(_natural_run(tmp_path, 32), "natural", **kw)  # nothing changed
    assert "up to date" in capsys.readouterr().out
    plan_kw = {k: v for k, v in kw.items() if k not in ("out_dir", "progress")}
    [(_, _, asked)] = bank_plan(_natural_run(tmp_path, 64).profile, "natural", tmp_path / "nat", **plan_kw)
    assert asked["patch"] == 64 and not _is_done(path, 10, asked)
    train_bank(_natural_run(tmp_path, 64), "natural", **kw)  # --set argan_patch=64
    assert "training" in capsys.readouterr().out and read_metadata(path)["patch"] == 64
    [(_, _, split)] = bank_plan(_natural_run(tmp_path, 64).profile, "natural", tmp_path / "nat",
                                **{**plan_kw, "pretrain_steps": 0, "gan_steps": 1})
    assert split["pretrain_steps"] + split["gan_steps"] == 1 and not _is_done(path, 10, split)
    assert _is_done(path, 10, {**split, "pretrain_steps": 1, "gan_steps": 0})


def test_a_checkpoint_of_another_patch_is_not_resumed(tmp_path, capsys):
    corpus_or_skip()
    kw = dict(dataset="natural", preset="tiny", pretrain_steps=3, gan_steps=0, ssim_weight=0.0, batch=4, n_val=4,
              progress=False, stop_after=1, out_path=tmp_path / "qf10.safetensors")
    train_argan(10, patch=32, **kw)
    assert (tmp_path / "qf10.ckpt.safetensors").is_file()
    train_argan(10, patch=64, **kw)
    assert "ignoring" in capsys.readouterr().out
    assert read_metadata(tmp_path / "qf10.ckpt.safetensors")["patch"] == 64  # restarted as the patch-64 training
    train_argan(10, patch=64, **kw)
    assert "resuming" in capsys.readouterr().out


@pytest.mark.parametrize("profile", ["quick", "imagenet", "study"])
def test_shipped_banks_are_up_to_date_for_the_profiles_that_use_them(profile):
    run = resolve_run(profile)
    for family in ("fmnist", "natural"):
        folder = run.bank_dir(family)
        assert folder.parent == WEIGHTS_DIR, folder
        plan = bank_plan(run.profile, family, folder)
        assert sorted(path.name for _, path, _ in plan) == sorted(p.name for p in folder.glob("*.safetensors"))
        assert [qf for qf, path, s in plan if not _is_done(path, qf, s)] == [], (profile, family)
    # and the check can fail: another batch is another training
    other = resolve_run(profile, {"argan_batch": 16})
    assert not any(_is_done(path, qf, s) for qf, path, s in bank_plan(other.profile, "fmnist", run.bank_dir("fmnist")))


@pytest.mark.parametrize("qfs, needle", [([20, 20], "more than once"), ([], "non-empty"), (True, "bool"),
                                         ([20, 101], r"\[1, 100\]"), ("20,40", "'static'")])
def test_a_qf_set_that_says_two_things_is_refused(qfs, needle):
    from cnr.errors import InputError

    with pytest.raises(InputError, match=needle):
        training_recipe(qfs, TrainSettings())

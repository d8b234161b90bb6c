"""Packaging-level guarantees: profiles, weights files, input checks, statistics, offline behaviour."""
from __future__ import annotations

import urllib.request

import pytest
import torch

from cnr.checks import check_images, check_labels
from cnr.errors import InputError, WeightsError
from cnr.profiles import PROFILES, get_profile
from cnr.stats import format_accuracy, wilson_interval
from cnr.weights import load_checkpoint, load_state_into, load_weights, read_metadata, save_checkpoint, save_weights


def test_network_is_blocked():
    with pytest.raises(Exception, match="network"):
        urllib.request.urlopen("http://example.com", timeout=5)


def test_profiles_cover_the_four_and_reject_unknowns():
    assert set(PROFILES) == {"smoke", "quick", "full", "paper"}
    assert get_profile("quick", seed=3).seed == 3
    with pytest.raises(InputError, match="valid profiles: full, paper, quick, smoke"):
        get_profile("fast")
    with pytest.raises(InputError, match="unknown profile field"):
        get_profile("quick", not_a_field=1)


def test_wilson_interval_brackets_the_rate_and_handles_extremes():
    lo, hi = wilson_interval(90, 100)
    assert lo < 0.9 < hi and 0.82 < lo < 0.84 and 0.94 < hi < 0.96
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(0, 20)[1] > 0.1
    assert wilson_interval(20, 20)[1] == 1.0 and wilson_interval(20, 20)[0] < 0.9
    assert "9/10" in format_accuracy(9, 10)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.rand(3, 28, 28), "NCHW"),
        (torch.rand(0, 1, 28, 28), "empty batch"),
        ((torch.rand(2, 1, 28, 28) * 255).to(torch.uint8), "float"),
        (torch.rand(2, 1, 28, 28) * 255, r"\[0, 1\]"),
        (torch.full((2, 1, 28, 28), float("nan")), "NaN"),
        (torch.rand(2, 2, 28, 28), "channels"),
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


def test_weights_round_trip_with_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(path, {"a": torch.arange(4.0), "b": torch.ones(2, dtype=torch.int64)}, {"qf": 40, "arch": "x"},
                 dtype=torch.float16)
    assert list(tmp_path.iterdir()) == [path]  # nothing temporary left behind
    tensors, meta = load_weights(path, expect={"qf": 40})
    assert tensors["a"].dtype == torch.float32 and torch.equal(tensors["a"], torch.arange(4.0))
    assert tensors["b"].dtype == torch.int64
    assert meta["arch"] == "x" and "code_version" in meta and read_metadata(path)["qf"] == 40


def test_weights_errors_name_file_and_fix(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsError, match="nope.safetensors is missing.*cnr train"):
        load_weights(missing, regenerate="cnr train-argan")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!garbage!")
    with pytest.raises(WeightsError, match="bad.safetensors"):
        load_weights(bad)
    good = tmp_path / "good.safetensors"
    save_weights(good, {"weight": torch.zeros(3, 2), "bias": torch.zeros(3)}, {"qf": 10})
    with pytest.raises(WeightsError, match="qf=10.*qf=20"):
        load_weights(good, expect={"qf": 20})
    with pytest.raises(WeightsError, match="does not fit Linear"):
        load_state_into(torch.nn.Linear(5, 3), good)


def test_checkpoint_restores_model_and_optimizer(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    for _ in range(3):
        model(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
    save_checkpoint(tmp_path / "c.safetensors", {"m": model}, {"o": opt}, {"step": 3}, {"arch": "lin"})
    model2 = torch.nn.Linear(4, 2)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.5)
    progress = load_checkpoint(tmp_path / "c.safetensors", {"m": model2}, {"o": opt2}, expect={"arch": "lin"})
    assert progress == {"step": 3}
    assert torch.equal(model.weight, model2.weight)
    assert opt2.param_groups[0]["lr"] == 0.01
    s1, s2 = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    assert torch.equal(s1["exp_avg_sq"], s2["exp_avg_sq"]) and float(s1["step"]) == float(s2["step"])
    with pytest.raises(WeightsError, match="not a resumable"):
        save_weights(tmp_path / "w.safetensors", model.state_dict(), {})
        load_checkpoint(tmp_path / "w.safetensors", {"m": model2}, {})

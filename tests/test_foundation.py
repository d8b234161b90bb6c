"""Packaging-level guarantees: profiles, overrides and runs, paths, weights files, input checks, statistics, offline."""
from __future__ import annotations

import dataclasses
import json
import math
import urllib.request

import pytest
import torch

from cnr.checks import check_images, check_labels
from cnr.config import PROFILES, Profile, get_profile, parse_override, with_settings
from cnr.errors import InputError, WeightsError
from cnr.paths import REPO_ROOT, RESULTS_DIR, WEIGHTS_DIR, relative
from cnr.run import Run, resolve_run, with_overrides
from cnr.stats import format_accuracy, wilson_interval
from cnr.weights import load_checkpoint, load_state_into, load_weights, read_metadata, save_checkpoint, save_weights


def test_network_is_blocked():
    with pytest.raises(Exception, match="network"):
        urllib.request.urlopen("http://example.com", timeout=5)


# --- profiles and overrides ------------------------------------------------------------------------

def test_profiles_cover_the_four_and_reject_unknowns():
    assert {"smoke", "quick", "full", "paper"} <= set(PROFILES)
    assert get_profile("quick", seed=3).seed == 3 and PROFILES["quick"].seed == 0  # a copy, the registry untouched
    with pytest.raises(InputError, match="unknown profile 'fast'; valid profiles: full, ") as err:
        get_profile("fast")
    assert all(name in str(err.value) for name in PROFILES)
    with pytest.raises(InputError, match="unknown profile setting 'not_a_field'"):
        get_profile("quick", not_a_field=1)
    for name in ("samples.eval", "n_eval"):  # the path, or the older name it replaces
        with pytest.raises(InputError, match=r"samples\.eval.*'5'"):
            get_profile("quick", **{name: "5"})
    assert not {"results_dir", "models_dir", "extra"} & {f.name for f in dataclasses.fields(Profile)}


def _set(text: str) -> Profile:
    """What `--set text` makes of the quick profile: parsed, then checked by the profile's own parts."""
    return with_settings(PROFILES["quick"], dict([parse_override(text)]))


@pytest.mark.parametrize("text, parsed, read, kept", [
    ("samples.eval=100", ("samples.eval", 100), lambda p: p.samples.eval, 100),
    (" samples.eval = 7 ", ("samples.eval", 7), lambda p: p.samples.eval, 7),
    ("n_eval=100", ("n_eval", 100), lambda p: p.samples.eval, 100),  # an older name, kept as an alias
    ("grid.ref_linf=1", ("grid.ref_linf", 1), lambda p: p.grid.ref_linf, 1.0),  # widened where a float is due
    ("grid.qf_range=20,60", ("grid.qf_range", (20, 60)), lambda p: p.grid.qf_range, (20, 60)),
    ("grid.linf_budgets=[0.1, 0.2]", ("grid.linf_budgets", (0.1, 0.2)), lambda p: p.grid.linf_budgets, (0.1, 0.2)),
    ("device=cuda", ("device", "cuda"), lambda p: p.device, "cuda"),  # a bare word is a string
    ("clf.train_limit=None", ("clf.train_limit", None), lambda p: p.clf.train_limit, None),
    ("attacks.pgd.steps=40", ("attacks.pgd.steps", 40), lambda p: p.attacks["pgd"]["steps"], 40),
])
def test_parse_override_reads_a_literal_that_the_profile_keeps(text, parsed, read, kept):
    assert parse_override(text) == parsed
    value = read(_set(text))
    assert value == kept and type(value) is type(kept)


@pytest.mark.parametrize("text, path", [
    ("samples.eval", "--set takes path=value"),
    ("nope=1", "'nope'"),
    ("samples.eval=1.5", r"samples\.eval"),
    ("n_eval=1.5", r"samples\.eval"),
    ("samples.eval=True", r"samples\.eval"),  # a bool is not an int here
    ("seed=true", "seed.*'true'"),
    ("grid.qf_range=20", r"grid\.qf_range"),
    ("grid.qf_range=1,2,3", r"grid\.qf_range"),
    ("attacks.pgd=3", r"attacks\.pgd"),
])
def test_a_set_the_setting_cannot_hold_is_refused(text, path):
    with pytest.raises(InputError, match=path):
        _set(text)


# --- runs ----------------------------------------------------------------------------------------------

def test_run_names_its_folder_after_profile_and_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("CNR_RESULTS", raising=False)
    run = resolve_run("smoke", {"samples.eval": 4, "grid.linf_budgets": (0.1, 0.3)}, seed=2, results_root=tmp_path)
    assert run.name == "smoke+grid.linf_budgets=0.1-0.3,samples.eval=4"  # sorted paths; the seed is a column
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
    assert resolve_run("smoke", seed=3).name == "smoke" and resolve_run("smoke").results_root == str(RESULTS_DIR)
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


def test_notebook_parameters_rebuild_the_same_run(tmp_path):
    """Papermill passes overrides as JSON, so tuples arrive as lists: the notebook must resolve the same run."""
    from cnr.reproduce import notebook_parameters

    over = {"grid.l2_budgets": (0.05,), "bank.pretrain_steps_by_qf": ((60, 30),), "attacks.cw.steps": 3}
    run = resolve_run("smoke", over, results_root=tmp_path)
    params = json.loads(json.dumps(notebook_parameters(run)))
    assert params["overrides"]["grid.l2_budgets"] == [0.05]
    inside = resolve_run(params["profile"], params["overrides"], seed=params["seed"], results_root=tmp_path)
    assert inside.profile == run.profile and inside.name == run.name and inside.out_dir == run.out_dir


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
    with pytest.raises(InputError, match="'tpu9' is not a device"):
        resolve_run("smoke", device="tpu9")


def test_relative_paths_inside_and_outside_the_repository(tmp_path):
    assert relative(WEIGHTS_DIR / "fmnist-cnn.safetensors") == "cnr/shipped/fmnist-cnn.safetensors"
    assert relative(REPO_ROOT) == "."
    assert relative(tmp_path) == str(tmp_path.resolve())


# --- statistics -----------------------------------------------------------------------------------------

def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The textbook formula, independent of scipy."""
    p = k / n
    centre, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))


@pytest.mark.parametrize("k, n", [(90, 100), (0, 20), (20, 20), (5, 8), (9312, 10000), (1, 1)])
def test_wilson_interval_is_the_wilson_score_interval(k, n):
    lo, hi = wilson_interval(k, n)
    want = _wilson_closed_form(k, n)
    # scipy and the closed form differ only by float rounding (measured <1e-9); 1e-7 leaves room for both
    assert lo == pytest.approx(max(0.0, want[0]), abs=1e-7) and hi == pytest.approx(min(1.0, want[1]), abs=1e-7)


def test_wilson_interval_values_and_edges():
    # Published values (e.g. Newcombe 1998, table I: 81/263 -> 0.2553-0.3662); 5e-5 is the table's rounding
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson_interval(90, 100) == pytest.approx((0.8256, 0.9448), abs=5e-5)
    assert wilson_interval(0, 20) == (0.0, pytest.approx(0.1611, abs=5e-5))
    assert wilson_interval(20, 20) == (pytest.approx(0.8389, abs=5e-5), 1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert format_accuracy(9, 10) == "0.9000 (9/10, 95% CI 0.5958-0.9821)"


# --- input checks ---------------------------------------------------------------------------------------

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


# --- weights files --------------------------------------------------------------------------------------

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
    save_weights(tmp_path / "w.safetensors", model.state_dict(), {})
    with pytest.raises(WeightsError, match="not a resumable"):
        load_checkpoint(tmp_path / "w.safetensors", {"m": model2}, {})


def test_saved_tables_are_whole_files_readable_like_any_other(tmp_path):
    """save_table writes each file atomically (no temporary left behind) with the umask's mode, not mkstemp's 0600."""
    import os

    import pandas as pd

    from cnr.reporting.tables import save_table

    paths = save_table(pd.DataFrame({"defense": ["jpeg"], "value": [0.12345]}), tmp_path / "t", "demo")
    mask = os.umask(0)
    os.umask(mask)
    assert [p.name for p in sorted((tmp_path / "t").iterdir())] == ["demo.csv", "demo.md", "demo.tex"]
    assert paths[0].read_text() == "defense,value\njpeg,0.1235\n"
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in paths)


def test_a_figure_drawn_twice_saves_the_same_bytes(tmp_path):
    """A rerun that draws the same figure leaves the committed PNG and PDF unchanged (the PDF has no creation date)."""
    import matplotlib.pyplot as plt

    from cnr.reporting.style import save_figure

    saved = []
    for out in (tmp_path / "a", tmp_path / "b"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        saved.append([p.read_bytes() for p in save_figure(fig, out, "line")])
        plt.close(fig)
    assert saved[0] == saved[1] and b"CreationDate" not in saved[0][1]

"""cnr.argan.bank and bank_files: a bank holds exactly the generators the defense will ask for, by exact file name,
and every way of building one (files, metadata, by hand) fails with the kit's error naming the file or the QF."""
from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from cnr.argan import STATIC, RestorerBank, build_generator
from cnr.argan.bank import load_generator
from cnr.argan.generator import generator_from_architecture
from cnr.defenses import CompressRestore
from cnr.errors import InputError, WeightsError
from cnr.paths import WEIGHTS_DIR

PROFILE_QFS = (5, 10, 20, 30, 40, 60)


@pytest.fixture()
def folder(tmp_path):
    """A copy of the shipped quick bank (its static generator records the QF set 5..60)."""
    return shutil.copytree(WEIGHTS_DIR / "argan-fmnist-quick", tmp_path / "bank")


def test_a_missing_generator_is_an_error_naming_its_qf(folder):
    (folder / "qf20.safetensors").unlink()
    for qfs in (PROFILE_QFS, None):  # the profile's set, or the one the static generator was trained on
        with pytest.raises(WeightsError, match=r"bank.* lacks the generator of QF 20 \(qf20\.safetensors\).*neighbour"):
            RestorerBank.load(folder, qfs=qfs)


@pytest.mark.parametrize("near", ["qf20.safetensor", "QF20.safetensors", "qf_20.safetensors"])
def test_a_near_miss_name_is_named_in_the_error(folder, near):
    (folder / "qf20.safetensors").rename(folder / near)
    with pytest.raises(WeightsError, match=rf"QF 20 \(qf20\.safetensors; found {near}: rename it to qf20"):
        RestorerBank.load(folder, qfs=PROFILE_QFS)


def test_a_bank_of_one_qf_is_refused_for_the_profiles_set(folder):
    for f in folder.iterdir():
        if f.name != "qf60.safetensors":
            f.unlink()
    with pytest.raises(WeightsError, match=r"QF 5 \(qf05.*QF 10 \(qf10.*QF 20 \(qf20.*QF 30 \(qf30.*QF 40 \(qf40"):
        RestorerBank.load(folder, qfs=PROFILE_QFS)
    assert RestorerBank.load(folder).qfs == (60,)  # no set asked for, none recorded: the folder is the bank


def test_a_substitution_when_allowed_is_named(folder):
    (folder / "qf20.safetensors").unlink()
    with pytest.warns(UserWarning, match=r"no qf20\.safetensors: QF 20 is served by qf30\.safetensors"):
        bank = RestorerBank.load(folder, qfs=PROFILE_QFS, allow_missing=True)
    assert bank.qfs == (5, 10, 30, 40, 60) and bank.nearest(20) == 30


def test_a_qf_outside_the_set_is_left_out_so_the_mapping_stays(folder):
    shutil.copy(folder / "qf20.safetensors", folder / "qf25.safetensors")
    with pytest.warns(UserWarning, match=r"left out qf25\.safetensors, outside the QF set \[5, 10, 20, 30, 40, 60\]"):
        bank = RestorerBank.load(folder, qfs=PROFILE_QFS)
    assert bank.qfs == PROFILE_QFS and bank.nearest(24) == 20


def test_the_static_generator_is_optional_for_dynamic_mode(folder):
    (folder / "static.safetensors").unlink()
    bank = RestorerBank.load(folder, qfs=PROFILE_QFS)
    assert not bank.has_static
    x = torch.rand(2, 1, 28, 28)
    for grad in ("bpda", "expected"):
        assert CompressRestore(bank, mode="dynamic", grad=grad)(x).shape == x.shape
    with pytest.raises(InputError, match=r"mode 'static' needs a bank with a static generator \(static\.safetensors"):
        CompressRestore(bank, mode="static")


def _edit_architecture(path, **fields) -> None:
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        header = dict(f.metadata())
    meta = json.loads(header["cnr"])
    meta["architecture"].update(fields)
    save_file(tensors, str(path), metadata={**header, "cnr": json.dumps(meta)})


@pytest.mark.parametrize("fields, problem", [
    (dict(channels=10**6), r"channels: expected an integer in \[1, 256\], got 1000000"),
    (dict(blocks=10**5), r"blocks: expected an integer in \[0, 64\]"),
    (dict(in_channels=-1), r"in_channels: expected an integer in \[1, 4\]"),
    (dict(block=3), r"block must be one of \(0, 2, 4, 8, 16\)"),
    (dict(residual="false"), r"residual must be true or false, got 'false'"),
])
def test_architecture_sizes_from_metadata_are_bounded_before_building(folder, fields, problem):
    path = folder / "qf20.safetensors"
    _edit_architecture(path, **fields)
    start = time.perf_counter()
    with pytest.raises(WeightsError, match=rf"qf20\.safetensors: .*{problem}"):
        load_generator(path)
    assert time.perf_counter() - start < 5  # refused before any allocation


def test_generator_architecture_records_are_checked():
    with pytest.raises(InputError, match="in_channels, channels and blocks are needed"):
        generator_from_architecture({"channels": 8})
    with pytest.raises(InputError, match=r"channels: expected an integer.*got float 8\.5"):
        generator_from_architecture({"in_channels": 1, "channels": 8.5, "blocks": 1})


@pytest.mark.parametrize("generators, static, problem", [
    ({"20": "G"}, None, r"RestorerBank key '20'.*expected an integer in \[1, 100\]"),
    ({True: "G"}, None, r"RestorerBank key True"),
    ({0: "G"}, None, r"RestorerBank key 0.*got 0"),
    ({20: "a restorer"}, None, r"generator for QF 20 must be a torch module.*got str"),
    ({20: "G"}, "a restorer", r"static must be a torch module.*got str"),
    ({20: torch.nn.Identity()}, None, r"generator for QF 20.*in_channels"),
    ([], None, r"mapping of QF -> Generator"),
])
def test_a_hand_built_bank_with_bad_keys_or_values_is_refused(generators, static, problem):
    g = build_generator("tiny", 1)
    generators = {k: (g if v == "G" else v) for k, v in generators.items()} if isinstance(generators, dict) \
        else generators
    with pytest.raises(InputError, match=problem):
        RestorerBank(generators, static=static)


@pytest.mark.parametrize("dtype, fix", [(torch.float64, r"x\.float\(\)"), (torch.uint8, r"x\.float\(\) / 255")])
def test_the_static_generator_checks_its_input_dtype_like_restore(dtype, fix):
    g = build_generator("tiny", 1).eval()
    bank = RestorerBank({20: build_generator("tiny", 1).eval()}, static=g)
    x = (torch.rand(2, 1, 28, 28) * (255 if dtype == torch.uint8 else 1)).to(dtype)
    for call in (bank.static, lambda x: bank.restore(x, STATIC), lambda x: bank.restore(x, 20)):
        with pytest.raises(InputError, match=rf"float32 tensor in \[0, 1\], got dtype .*convert with {fix}"):
            call(x)


def test_a_runs_bank_is_checked_against_its_profiles_qfs(folder, monkeypatch):
    from cnr.run import Run, resolve_run
    from cnr.training import load_bank

    run = resolve_run("quick")
    (folder / "static.safetensors").unlink()  # so that only the profile's set can name what is missing
    (folder / "qf20.safetensors").rename(folder / "QF20.safetensors")
    monkeypatch.setattr(Run, "bank_dir", lambda self, family: folder)
    assert 20 in run.profile.bank.qfs
    with pytest.raises(WeightsError, match=r"QF 20 \(qf20\.safetensors; found QF20\.safetensors.*cnr train-argan"):
        load_bank(run, "fmnist")


def test_the_cli_names_the_missing_generator_in_one_line(folder, monkeypatch, capsys):
    from cnr import cli
    from cnr.run import Run

    (folder / "qf20.safetensors").rename(folder / "qf20.safetensor")
    monkeypatch.setattr(Run, "bank_dir", lambda self, family: folder)
    assert cli.main(["attack", "--profile", "smoke", "--defense", "dynamic-N3", "--n-images", "4"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: AR-GAN bank" in err and "QF 20 (qf20.safetensors; found qf20.safetensor: rename it" in err


def test_a_bank_built_from_a_list_is_refused_in_one_line():
    from cnr.errors import InputError

    with pytest.raises(InputError) as e:
        RestorerBank([build_generator("tiny", 1)])
    assert "mapping of QF -> Generator" in str(e.value) and "\n" not in str(e.value)

"""cnr.weights: safetensors files with metadata and a checksum; a missing, damaged, foreign or mistyped file
is refused with the file's name and how to regenerate it."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cnr.errors import InputError, WeightsError
from cnr.paths import WEIGHTS_DIR
from cnr.weights import load_checkpoint, load_state_into, load_weights, read_metadata, save_checkpoint, save_weights


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


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


def test_weights_path_of_the_wrong_type():
    from cnr import RestorerBank, load_classifier

    with pytest.raises(WeightsError, match=r"weights path\b.*int 5"):
        load_classifier("fmnist-cnn", weights=5)
    with pytest.raises(InputError, match=r"RestorerBank\.load\b.*int 5"):
        RestorerBank.load(5)


def test_a_flipped_bit_in_shipped_weights_is_caught(tmp_path):
    from cnr import load_classifier

    data = bytearray((WEIGHTS_DIR / "fmnist-cnn.safetensors").read_bytes())
    data[-10] ^= 0x01
    (tmp_path / "flip.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_classifier("fmnist-cnn", weights=tmp_path / "flip.safetensors")


@pytest.mark.parametrize("content, needle", [
    (b"", r"w\.safetensors\b.*not a valid safetensors file"),
    ((10**15).to_bytes(8, "little") + b"{}", r"w\.safetensors\b.*not a valid safetensors file"),
])
def test_empty_or_absurd_header_weights(tmp_path, content, needle):
    from cnr import load_classifier

    (tmp_path / "w.safetensors").write_bytes(content)
    with pytest.raises(WeightsError, match=needle):
        load_classifier("fmnist-cnn", weights=tmp_path / "w.safetensors")


@pytest.mark.parametrize("raw", ["[1, 2]", "3", '"text"', "null"])
def test_weights_metadata_that_is_json_but_not_an_object(tmp_path, raw):
    import torch
    from safetensors.torch import save_file

    from cnr.errors import WeightsError
    from cnr.weights import load_weights, read_metadata

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(1)}, str(path), metadata={"cnr": raw})
    for read in (read_metadata, load_weights):
        with pytest.raises(WeightsError, match=r"w\.safetensors\b.*cnr metadata.*JSON \w+"):
            read(path)


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


def test_weights_checksum_is_stored_and_verified(tmp_path):
    from cnr.weights import load_state_into, load_weights, save_weights

    path = save_weights(tmp_path / "w.safetensors", _net().state_dict(), {"arch": "t"})
    load_state_into(_net(), path)  # round trip
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    first_float = header  # flip the bytes of one stored value: the file still parses
    data[first_float:first_float + 4] = bytes(255 - b for b in data[first_float:first_float + 4])
    path.write_bytes(bytes(data))
    load_file(str(path))  # safetensors is happy
    with pytest.raises(WeightsError, match=r"checksum mismatch.*make w"):
        load_weights(path, regenerate="make w")


def test_old_files_without_a_checksum_still_load_with_a_warning(tmp_path):
    from cnr.weights import load_state_into

    path = tmp_path / "old.safetensors"
    save_file(_net().state_dict(), str(path), metadata={"cnr": json.dumps({"arch": "t"})})
    from cnr.weights import UnverifiedWeightsWarning

    with pytest.warns(UnverifiedWeightsWarning, match="old.safetensors"):
        assert load_state_into(_net(), path) == {"arch": "t"}


def test_non_finite_weights_are_refused(tmp_path):
    from cnr.weights import load_weights, save_weights

    sd = _net().state_dict()
    sd["0.weight"] = torch.full((2, 3), float("nan"))
    for name, writer in [("new", lambda p: save_weights(p, sd, {})), ("old", lambda p: save_file(sd, str(p)))]:
        path = tmp_path / f"{name}.safetensors"
        writer(path)
        with pytest.raises(WeightsError, match=r"'0\.weight'.*6 of 6.*NaN or Inf.*cnr train-classifier"):
            load_weights(path, regenerate="cnr train-classifier")


@pytest.mark.filterwarnings("ignore::cnr.weights.UnverifiedWeightsWarning")  # its old-format file warns too
def test_float_stored_as_int32_is_caught(tmp_path):
    from cnr.weights import load_state_into, save_weights

    sd = _net().state_dict()
    sd["0.weight"] = (sd["0.weight"] * 100).to(torch.int32)  # would be cast back silently by load_state_dict
    sd["0.bias"] = torch.zeros(5)
    for name, writer in [("new", lambda p: save_weights(p, sd, {})), ("old", lambda p: save_file(sd, str(p)))]:
        path = tmp_path / f"{name}.safetensors"
        writer(path)
        with pytest.raises(WeightsError, match=r"Sequential.*0\.weight\b.*int32.*float32.*0\.bias\b.*\(5,\).*\(2,\)"):
            load_state_into(_net(), path)
    # a header whose recorded dtype was changed after saving
    path = save_weights(tmp_path / "hdr.safetensors", {"a": torch.ones(2)}, {})
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    save_file({"a": tensors["a"].to(torch.int32)}, str(path), metadata=meta)
    from cnr.weights import load_weights

    with pytest.raises(WeightsError, match=r"'a'.*int32.*float32"):
        load_weights(path)


def test_fp16_overflow_is_refused_at_save(tmp_path):
    from cnr.weights import save_weights

    with pytest.raises(WeightsError, match="overflows torch.float16"):
        save_weights(tmp_path / "w.safetensors", {"a": torch.tensor([1e6])}, {}, dtype=torch.float16)


# --- the integrity record covers the metadata; files without one warn, shipped files must carry one -----------

def _edit_header(path, edit_meta=None, record=None) -> None:
    """Rewrite a file's header in place, tensors as stored: `edit_meta` changes the cnr metadata, `record` (None:
    keep, "" drop, "tensors": the older record over the tensors only) the integrity record."""
    from safetensors import safe_open

    from cnr.weights import tensor_checksum

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        header = dict(f.metadata())
    if edit_meta is not None:
        meta = json.loads(header["cnr"])
        edit_meta(meta)
        header["cnr"] = json.dumps(meta, sort_keys=True)
    if record == "":
        header.pop("cnr.integrity")
    elif record == "tensors":
        old = {**json.loads(header["cnr.integrity"]), "sha256": tensor_checksum(tensors)}
        header["cnr.integrity"] = json.dumps(old)
    save_file(tensors, str(path), metadata=header)


def test_edited_metadata_under_a_valid_record_is_refused(tmp_path):
    import shutil

    from cnr.argan.bank import load_generator

    path = tmp_path / "qf20.safetensors"
    shutil.copy(WEIGHTS_DIR / "argan-fmnist-quick" / "qf20.safetensors", path)
    _edit_header(path, lambda m: m["architecture"].update(residual=True))  # the file's record left as it was
    with pytest.raises(WeightsError, match=r"qf20\.safetensors: checksum mismatch \(its tensors or its metadata"):
        load_generator(path)
    with pytest.raises(WeightsError, match=r"qf20\.safetensors: checksum mismatch"):
        load_weights(path)


def test_a_file_without_a_record_loads_only_with_a_warning_or_an_opt_in(tmp_path):
    import warnings

    from cnr.weights import UnverifiedWeightsWarning

    sd = _net().state_dict()
    sd["0.weight"] = sd["0.weight"][torch.randperm(2)]  # scrambled: nothing in the file can tell
    path = tmp_path / "scrambled.safetensors"
    save_file(sd, str(path), metadata={"cnr": json.dumps({"arch": "t"})})
    with pytest.warns(UnverifiedWeightsWarning, match=r"scrambled\.safetensors has no integrity record.*"
                                                      r"add_integrity_record.*allow_unverified=True"):
        load_state_into(_net(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_state_into(_net(), path, allow_unverified=True) == {"arch": "t"}
    # an older record over the tensors only vouches for nothing in the metadata
    save_weights(path, sd, {"arch": "t"})
    _edit_header(path, record="tensors")
    with pytest.warns(UnverifiedWeightsWarning, match="covers its tensors but not its metadata"):
        load_weights(path)


@pytest.mark.parametrize("record, problem", [
    ("", "has no integrity record"),
    ("tensors", "has an integrity record that covers its tensors but not its metadata")])
def test_shipped_weights_without_a_full_record_are_refused(tmp_path, monkeypatch, record, problem):
    import cnr.paths

    shipped = tmp_path / "shipped"
    (shipped / "bank").mkdir(parents=True)
    path = save_weights(shipped / "bank" / "qf20.safetensors", _net().state_dict(), {"arch": "t"})
    _edit_header(path, record=record)
    monkeypatch.setattr(cnr.paths, "WEIGHTS_DIR", shipped)
    for spelling in (path, tmp_path / "elsewhere" / ".." / "shipped" / "bank" / "qf20.safetensors"):
        (tmp_path / "elsewhere").mkdir(exist_ok=True)
        with pytest.raises(WeightsError, match=rf"shipped weights .*qf20\.safetensors {problem}.*git checkout"):
            load_weights(spelling, allow_unverified=True)  # no opt-in for shipped files


def test_every_shipped_file_carries_a_record_over_tensors_and_metadata():
    from cnr.weights import _check_tensors, _header

    files = sorted(WEIGHTS_DIR.rglob("*.safetensors"))
    assert len(files) >= 22
    for f in files:
        assert _check_tensors(f, load_file(str(f)), _header(f, ""), "") == "verified", f


def test_add_integrity_record_upgrades_a_tensor_only_record_bit_for_bit(tmp_path):
    from cnr.weights import add_integrity_record, tensor_checksum

    path = save_weights(tmp_path / "w.safetensors", _net().state_dict(), {"arch": "t"}, dtype=torch.float16)
    _edit_header(path, record="tensors")
    before, size = tensor_checksum(load_file(str(path))), path.stat().st_size
    assert add_integrity_record(path) and not add_integrity_record(path)
    assert tensor_checksum(load_file(str(path))) == before and path.stat().st_size == size
    _edit_header(path, lambda m: m.update(arch="u"))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        add_integrity_record(path)


def test_is_verified_tells_a_full_record_from_an_older_or_missing_one(tmp_path):
    from cnr.weights import is_verified

    path = save_weights(tmp_path / "w.safetensors", _net().state_dict(), {"arch": "t"})
    assert is_verified(path)
    _edit_header(path, record="tensors")
    assert not is_verified(path)
    _edit_header(path, record="")
    assert not is_verified(path)


def test_save_weights_refuses_the_shipped_folder_through_any_path(tmp_path):
    from cnr.errors import InputError
    from cnr.paths import WEIGHTS_DIR

    target = WEIGHTS_DIR.parent.parent / "results" / ".." / "cnr" / "shipped" / "fmnist-cnn.safetensors"
    before = (WEIGHTS_DIR / "fmnist-cnn.safetensors").stat().st_mtime_ns
    with pytest.raises(InputError, match="--overwrite-shipped"):
        save_weights(target, {"w": torch.zeros(1)}, {})
    assert (WEIGHTS_DIR / "fmnist-cnn.safetensors").stat().st_mtime_ns == before


@pytest.mark.parametrize("tensors, metadata, needle", [
    ({"a": "not a tensor"}, {}, "entry 'a' must be a str name -> torch.Tensor"),
    ([torch.ones(2)], {}, "mappings"),
    ({"a": torch.ones(2)}, {"k": object()}, "plain JSON"),
    ({"a": torch.ones(2)}, {"k": float("nan")}, "plain JSON"),
])
def test_save_weights_refuses_what_it_could_not_read_back(tmp_path, tensors, metadata, needle):
    with pytest.raises(InputError, match=needle):
        save_weights(tmp_path / "w.safetensors", tensors, metadata)
    assert not (tmp_path / "w.safetensors").exists()


def test_save_weights_takes_views_paths_and_numpy_numbers(tmp_path):
    import numpy as np

    t = torch.arange(4.0)
    save_weights(tmp_path / "w.safetensors", {"a": t, "b": t[:2]}, {"p": tmp_path, "x": np.float32(0.5)})
    tensors, meta = load_weights(tmp_path / "w.safetensors")
    assert torch.equal(tensors["b"], t[:2]) and meta["p"] == str(tmp_path) and meta["x"] == 0.5

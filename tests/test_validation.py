"""Bad input fails early with one clear kit error (never a library traceback, never silent acceptance)."""
from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from cnr.checks import check_count, check_images, check_one_device, check_writable, resolve_device
from cnr.errors import CnrError, DataNotFoundError, InputError, WeightsError
from cnr.parsing import (
    argtype,
    nonnegative_float,
    parse_bool,
    parse_param_value,
    parse_params,
    parse_qf_range,
    parse_seed,
    positive_int,
)

REPO = Path(__file__).resolve().parents[1]
QUICK_TABLE = REPO / "results" / "quick" / "tables" / "robustness.csv"


# --- images ----------------------------------------------------------------------------------------

def _imgs(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0)).to(dtype)


@pytest.mark.parametrize("dtype, fix", [(torch.float64, r"x\.float\(\)"), (torch.float16, r"x\.float\(\)"),
                                        (torch.bfloat16, r"x\.float\(\)")])
def test_check_images_refuses_other_floats_and_says_how_to_convert(dtype, fix):
    with pytest.raises(InputError, match=rf"float32 .*got dtype {str(dtype)[6:]}; convert with {fix}$"):
        check_images(_imgs(2, 1, 8, 8, dtype=dtype))
    check_images(_imgs(2, 1, 8, 8, dtype=dtype), dtypes=(torch.float32, dtype))  # callers that handle them opt in


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64, torch.bool])
def test_check_images_refuses_integer_pixels(dtype):
    x = (_imgs(2, 3, 8, 8) * 255).to(dtype)
    fix = r"x\.float\(\) / 255" if dtype == torch.uint8 else r"x\.float\(\)"
    with pytest.raises(InputError, match=rf"got dtype {str(dtype)[6:]}; convert with {fix}"):
        check_images(x)


def test_check_images_counts_nan_and_inf():
    x = _imgs(2, 1, 4, 4)
    x[0, 0, 0, :3] = float("nan")
    x[1, 0, 1, 1] = float("inf")
    with pytest.raises(InputError, match=r"NaN or Inf: 4 of 32 values \(3 NaN, 1 Inf\)"):
        check_images(x)


def test_check_images_against_the_models_declared_input():
    x = _imgs(2, 1, 28, 28)
    with pytest.raises(InputError, match=r"the model expects 3-channel 224x224 images, got 1-channel 28x28"):
        check_images(x, channels=3, size=224)
    with pytest.raises(InputError, match=r"^images are 28x28 px, expected 32x48 \(the model expects 32x48 images, got "
                                         r"1-channel 28x28\); resize with torch.nn.functional.interpolate"):
        check_images(x, size=(32, 48))
    with pytest.raises(InputError, match=r"have 2 channels, expected 1 or 3 \(the model expects 1- or 3-channel images"):
        check_images(_imgs(1, 2, 8, 8), channels=(1, 3))
    assert check_images(x, channels=1, size=(28, 28)) is x
    for bad, msg in [(_imgs(3, 28, 28), r"NCHW.*unsqueeze\(0\)"), (_imgs(0, 1, 4, 4), "empty batch"),
                     (_imgs(1, 1, 4, 4) * 255, r"\[0, 1\].*divide by 255"), (np.zeros((1, 1, 4, 4)), "torch.Tensor")]:
        with pytest.raises(InputError, match=msg):
            check_images(bad)


# --- devices ----------------------------------------------------------------------------------------

def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for bad in ("gpu0", "cuda:x", "", "cpu:zero"):
        with pytest.raises(InputError, match=r"is not a device; use auto, cpu, cuda, cuda:N or mps"):
            resolve_device(bad)
    with pytest.raises(InputError, match="not 'meta'"):
        resolve_device("meta")
    with pytest.raises(InputError, match="must be a string"):
        resolve_device(0)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(InputError, match=r"--device cuda:99 asks for GPU 99|CUDA was asked for \(--device cuda:99\)"):
        resolve_device("cuda:99")
    if not n:
        with pytest.raises(InputError, match=r"^CUDA was asked for \(--device cuda\) but torch.cuda.is_available\(\) "
                                             r"is False on this machine; use --device cpu$"):
            resolve_device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        with pytest.raises(InputError, match=r"MPS was asked for \(--device mps\)"):
            resolve_device("mps")


def test_check_one_device_names_both_parts():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert check_one_device(net, torch.zeros(1), None) == torch.device("cpu")
    assert check_one_device() is None
    net[1].register_buffer("running_mean", torch.zeros(2, device="meta"))  # one buffer left behind elsewhere
    with pytest.raises(InputError, match=r"argument 1 \(Sequential\) parameter '0.weight' is on cpu and argument 1 "
                                         r"\(Sequential\) buffer '1.running_mean' is on meta"):
        check_one_device(net)
    with pytest.raises(InputError, match=r"argument 1 \(Linear\) parameter 'weight' is on cpu and argument 2 "
                                         r"\(Tensor\) is on meta"):
        check_one_device(torch.nn.Linear(2, 2), torch.zeros(2, device="meta"))
    with pytest.raises(InputError, match="Module or a torch.Tensor"):
        check_one_device("cpu")


# --- folders and counts --------------------------------------------------------------------------

def test_check_writable_creates_and_probes(tmp_path):
    out = check_writable(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []  # the probe is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"is a file, not a folder"):
        check_writable(tmp_path / "file")
    with pytest.raises(InputError, match=r"cannot be created: a part of its path is a file"):
        check_writable(tmp_path / "file" / "sub")


def test_check_writable_read_only_folder(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores the mode bits: simulate the refusal the kernel would give
            import tempfile

            def refuse(*a, **k):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(InputError, match=rf"output folder {ro} is not writable \(Permission denied\)"):
            check_writable(ro)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("bad, msg", [(0, "got 0"), (-3, "got -3"), (True, "got bool True"),
                                      (2.5, "got float 2.5; pass a whole number$"), (2.0, "got float 2.0; pass 2"),
                                      ("3", "got str '3'; pass 3"), (None, "got NoneType")])
def test_check_count_is_strict(bad, msg):
    with pytest.raises(InputError, match=rf"^n_images: expected an integer >= 1, {msg}"):
        check_count(bad, "n_images")


def test_check_count_accepts_ints_and_a_minimum():
    assert check_count(np.int64(4), "workers") == 4 and check_count(0, "retries", minimum=0) == 0
    with pytest.raises(InputError, match="draws: expected an integer >= 2, got 1"):
        check_count(1, "draws", minimum=2)


# --- parsers -----------------------------------------------------------------------------------------

def test_parse_bool_is_strict():
    for t in ("true", "YES", "1", "On", " yes ", True, 1):
        assert parse_bool(t) is True
    for f in ("false", "No", "0", "OFF", False, 0):
        assert parse_bool(f) is False
    for bad in ("nope", "", "2", "tru", 2, None, 0.0):
        with pytest.raises(InputError, match=r"expected a boolean \(true/false, yes/no, 1/0, on/off\)"):
            parse_bool(bad)


def test_numbers_and_seeds():
    assert positive_int("12") == 12 and positive_int(3) == 3
    for bad in ("0", "-1", "2.5", "1e3", "abc", "", 2.0, True):
        with pytest.raises(InputError, match=r"limit: expected an integer >= 1"):
            positive_int(bad, "limit")
    assert nonnegative_float("0.03") == 0.03 and nonnegative_float(0) == 0.0
    assert nonnegative_float("inf", finite=False) == float("inf")
    for bad, msg in [("-0.1", "got -0.1"), ("nan", "NaN"), ("inf", "finite"), ("x", "got 'x'"), (True, "bool")]:
        with pytest.raises(InputError, match=msg):
            nonnegative_float(bad, "budget")
    assert parse_seed("7") == 7 and parse_seed(0) == 0
    for bad in ("abc", "1.0", 1.5, -1, 2**32, True):
        with pytest.raises(InputError, match=r"seed: expected an integer in \[0, 4294967295\]"):
            parse_seed(bad, "seed")


@pytest.mark.parametrize("text, want", [("40", (40, 40)), ("20,60", (20, 60)), ("(20, 60)", (20, 60)),
                                        ("[20, 60]", (20, 60)), ((20, 60), (20, 60)), ([5, 5], (5, 5)), (90, (90, 90))])
def test_parse_qf_range_accepts(text, want):
    assert parse_qf_range(text) == want


@pytest.mark.parametrize("bad, msg", [("20,40,60", "got 3 values"), ("20-60", "write it as 20,60"),
                                      ("60,20", "lo <= hi, got 60,20; did you mean 20,60"), ("0,50", r"\[1, 100\], got 0"),
                                      ("50,101", "got 101"), ((20.0, 60), "got float 20.0"), ("a,b", "got 'a'"),
                                      ("", "got 0 values"), (None, "got NoneType")])
def test_parse_qf_range_refuses(bad, msg):
    with pytest.raises(InputError, match=msg):
        parse_qf_range(bad)


def test_parse_param_value_follows_the_default():
    assert parse_param_value("targeted", "no", False) is False  # bool("no") is True: the bug
    assert parse_param_value("steps", "20", 10) == 20
    assert parse_param_value("step_size", "0.01", 0.1) == 0.01 and parse_param_value("lr", "2", 0.1) == 2.0
    assert parse_param_value("loss", "ce", "dlr") == "ce"
    assert parse_param_value("x", "[1, 2]", None) == [1, 2] and parse_param_value("x", "abc", None) == "abc"
    for name, text, default, msg in [("targeted", "maybe", False, "parameter 'targeted': expected a boolean"),
                                     ("steps", "2.5", 10, "parameter 'steps': expected an integer, got '2.5'"),
                                     ("steps", "ten", 10, "got 'ten'"),
                                     ("step_size", "fast", 0.1, "parameter 'step_size': expected a number"),
                                     ("step_size", "nan", 0.1, "got NaN")]:
        with pytest.raises(InputError, match=msg):
            parse_param_value(name, text, default)
    assert parse_params(["steps=5", "targeted=off"], {"steps": 10, "targeted": False}) == {"steps": 5,
                                                                                          "targeted": False}
    with pytest.raises(InputError, match=r"unknown parameter 'stesp'; valid parameters: steps, targeted"):
        parse_params(["stesp=5"], {"steps": 10, "targeted": False})
    with pytest.raises(InputError, match="takes name=value"):
        parse_params(["steps"], {"steps": 10})


def test_argparse_types_give_one_usage_line_and_exit_code_2(capsys):
    p = argparse.ArgumentParser(prog="cnr attack")
    p.add_argument("--n-images", type=argtype(positive_int))
    p.add_argument("--qf-range", type=argtype(parse_qf_range))
    p.add_argument("--budget", type=argtype(nonnegative_float, finite=False))
    p.add_argument("--amp", type=argtype(parse_bool))
    ns = p.parse_args(["--n-images", "5", "--qf-range", "20,60", "--budget", "inf", "--amp", "no"])
    assert (ns.n_images, ns.qf_range, ns.budget, ns.amp) == (5, (20, 60), float("inf"), False)
    for argv, msg in [(["--n-images", "2.5"], "argument --n-images: expected an integer >= 1, got '2.5'"),
                      (["--qf-range", "20-60"], "argument --qf-range: '20-60' is not a QF range: write it as 20,60"),
                      (["--amp", "nein"], "argument --amp: expected a boolean")]:
        with pytest.raises(SystemExit) as e:
            p.parse_args(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err


# --- weights ------------------------------------------------------------------------------------------

def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


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
    with pytest.raises(WeightsError, match=r"checksum mismatch .*the file is damaged\. Regenerate it with: make w"):
        load_weights(path, regenerate="make w")


def test_old_files_without_a_checksum_still_load(tmp_path):
    from cnr.weights import load_state_into

    path = tmp_path / "old.safetensors"
    save_file(_net().state_dict(), str(path), metadata={"cnr": json.dumps({"arch": "t"})})
    assert load_state_into(_net(), path) == {"arch": "t"}


def test_non_finite_weights_are_refused(tmp_path):
    from cnr.weights import load_weights, save_weights

    sd = _net().state_dict()
    sd["0.weight"] = torch.full((2, 3), float("nan"))
    for name, writer in [("new", lambda p: save_weights(p, sd, {})), ("old", lambda p: save_file(sd, str(p)))]:
        path = tmp_path / f"{name}.safetensors"
        writer(path)
        with pytest.raises(WeightsError, match=r"tensor '0.weight' has 6 of 6 values NaN or Inf.*Regenerate it with: "
                                               r"cnr train-classifier"):
            load_weights(path, regenerate="cnr train-classifier")


def test_float_stored_as_int32_is_caught(tmp_path):
    from cnr.weights import load_state_into, save_weights

    sd = _net().state_dict()
    sd["0.weight"] = (sd["0.weight"] * 100).to(torch.int32)  # would be cast back silently by load_state_dict
    sd["0.bias"] = torch.zeros(5)
    for name, writer in [("new", lambda p: save_weights(p, sd, {})), ("old", lambda p: save_file(sd, str(p)))]:
        path = tmp_path / f"{name}.safetensors"
        writer(path)
        with pytest.raises(WeightsError, match=r"does not fit Sequential: 0.weight is stored as int32, the module needs "
                                               r"a float tensor \(float32\); 0.bias has shape \(5,\), the module needs "
                                               r"\(2,\)"):
            load_state_into(_net(), path)
    # a header whose recorded dtype was changed after saving
    path = save_weights(tmp_path / "hdr.safetensors", {"a": torch.ones(2)}, {})
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    save_file({"a": tensors["a"].to(torch.int32)}, str(path), metadata=meta)
    from cnr.weights import load_weights

    with pytest.raises(WeightsError, match=r"tensor dtypes differ from those saved \('a' is int32, saved as float32\)"):
        load_weights(path)


def test_fp16_overflow_is_refused_at_save(tmp_path):
    from cnr.weights import save_weights

    with pytest.raises(WeightsError, match="overflows torch.float16"):
        save_weights(tmp_path / "w.safetensors", {"a": torch.tensor([1e6])}, {}, dtype=torch.float16)


# --- the row store --------------------------------------------------------------------------------------

def _row(**over):
    row = dict(dataset="fmnist", classifier="fmnist-cnn", defense="none", attack="clean", norm="linf", budget=0.0,
               params="{}", seed=0, n=500, draws=1, accuracy=0.946, acc_lo=0.92, acc_hi=0.96, worst_accuracy=0.946,
               worst_lo=0.92, worst_hi=0.96, draw_std=0.0, random_defense=False, view="bpda", n_forward=0,
               n_backward=0, pert_l2_median=0.0, pert_linf_max=0.0, wall_s=0.28, attack_s=0.0)
    row.update(over)
    return row


def test_row_schema_matches_evaluate():
    from cnr.eval import rows as rowstore

    columns = set(pd.read_csv(QUICK_TABLE).columns)  # a table the grid wrote: every schema key is one of its columns
    assert set(rowstore.KEY_COLUMNS) <= set(rowstore.ROW_SCHEMA) <= columns


def test_rows_round_trip_with_dedup(tmp_path):
    from cnr.eval.rows import append_row, read_rows, rows_path

    out = tmp_path / "robustness.csv"
    p1, p2 = rows_path(out, (1, 2)), rows_path(out, (2, 2))
    assert p1.name == "robustness.rows-1-of-2.jsonl"
    append_row(p1, _row(accuracy=0.5))
    append_row(p1, _row(accuracy=0.6, n_forward=np.int64(7)))  # same key: the last wins
    append_row(p2, _row(budget=0.1, min_pert_l2_median=float("nan")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_rows(out)
    assert len(df) == 2 and df.loc[0, "accuracy"] == 0.6 and df.loc[0, "n_forward"] == 7
    with pytest.raises(InputError, match="refusing to write a row .*: accuracy is str"):
        append_row(p1, _row(accuracy="high"))


def test_bad_lines_are_skipped_with_one_warning_per_file(tmp_path):
    from cnr.eval.rows import RowStoreWarning, read_rows, rows_path

    out = tmp_path / "robustness.csv"
    good = json.dumps(_row()).encode()
    lines = [good, b'{"foo": 1}', b"[1, 2]", b"42", json.dumps(_row(seed="0", budget=0.1)).encode(),
             json.dumps(_row(random_defense="False", budget=0.2)).encode(), b"\xff\xfe not utf-8",
             json.dumps(_row(budget=0.3)).encode(), b'{"dataset": "fmn']  # the torn last line of a crash
    rows_path(out).write_bytes(b"\n".join(lines))
    with pytest.warns(RowStoreWarning) as rec:
        df = read_rows(out)
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert str(rows_path(out)) in msg and "skipped 7 line(s)" in msg
    for part in ("line 2: missing 25 of the row's 25 keys (dataset, classifier, defense ...)", "line 3: a JSON list", "line 4: a JSON int", "line 5: seed is str",
                 "line 6: random_defense is str", "and 2 more"):
        assert part in msg, part
    assert sorted(df["budget"]) == [0.0, 0.3]


def test_append_after_a_torn_line_repairs_the_file(tmp_path):
    from cnr.eval.rows import append_row, read_rows, rows_path

    path = rows_path(tmp_path / "t.csv")
    path.write_text(json.dumps(_row()) + "\n" + '{"dataset": "fmn')
    append_row(path, _row(budget=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_rows(tmp_path / "t.csv")) == 2  # the half row is gone, no warning any more
    path.write_text(json.dumps(_row(budget=0.2)))  # a whole row that only lost its newline is kept
    append_row(path, _row(budget=0.3))
    assert sorted(read_rows(tmp_path / "t.csv")["budget"]) == [0.2, 0.3]


def test_read_table_detects_truncation(tmp_path):
    from cnr.eval.rows import TableError, read_table, write_table

    src = pd.read_csv(QUICK_TABLE)
    folder = tmp_path / "results" / "quick" / "tables"
    csv = write_table(src, folder / "robustness.csv")
    assert len(read_table(csv)) == len(src)
    data = csv.read_bytes()
    hint = r"regenerate it with `cnr grid --profile quick`"
    cut_mid_row = data[: len(data) - 40]
    csv.write_bytes(cut_mid_row)
    want = rf"is truncated: its last row has \d+ fields, the header has {len(src.columns)}; " + hint
    with pytest.raises(TableError, match=want):
        read_table(csv)
    last_nl = data.rstrip(b"\n").rfind(b"\n")
    csv.write_bytes(data[:last_nl] + b"\n" + data[last_nl + 1:].rstrip(b"\n"))  # whole last row, no newline
    with pytest.raises(TableError, match="does not end with a newline"):
        read_table(csv)
    csv.write_bytes(b"\n".join(data.split(b"\n")[:100]) + b"\n")  # cut at a line: only the row count tells
    with pytest.raises(TableError, match=rf"is truncated: it has 99 rows, but {len(src)} were written"):
        read_table(csv)
    csv.write_bytes(b"")
    with pytest.raises(TableError, match="is empty"):
        read_table(csv)
    csv.write_bytes(data.replace(b"fmnist", b"fm\xffist", 1))
    with pytest.raises(TableError, match="is not UTF-8"):
        read_table(csv)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_table(folder / "nope.csv")
    # the shipped table, with no sidecar, passes the structural checks
    assert len(read_table(QUICK_TABLE)) == len(src)


# --- compare ----------------------------------------------------------------------------------------------

def test_compare_agrees_within_chance_and_flags_a_real_difference():
    from cnr.analysis.compare import compare_tables, verdict

    ref = pd.read_csv(QUICK_TABLE)
    cand = ref.copy()
    nudged = [3, 10, 20, 30]
    for i in nudged:  # one image more or less
        cand.loc[i, "accuracy"] += (1 if cand.loc[i, "accuracy"] < 0.5 else -1) / cand.loc[i, "n"]
    res = compare_tables(QUICK_TABLE, cand)
    assert res["agree"].all() and (~res.loc[nudged, "bit_identical"]).all()
    assert res["bit_identical"].sum() == len(ref) - len(nudged)
    assert verdict(res) == (f"{len(ref)} rows matched: {len(ref) - 4} bit-identical, 4 differ, all within chance "
                            f"(Holm-corrected p >= 0.05); 0 rows missing")

    big = int(np.flatnonzero(ref["accuracy"] > 0.5)[0])
    cand.loc[big, "accuracy"] -= 0.30
    cand = cand.drop(index=50).reset_index(drop=True)
    res = compare_tables(ref, cand)
    bad = res[~res["agree"] & (res["status"] == "matched")]
    assert len(bad) == 1 and abs(bad["accuracy_diff"].iloc[0] + 0.30) < 1e-9
    line = verdict(res)
    assert "1 disagree beyond chance (Holm-corrected p < 0.05): fmnist/fmnist-cnn none clean linf 0 seed 0: " \
           "accuracy 0.9460 vs 0.6460" in line
    assert line.endswith("1 row missing (1 only in the reference: fmnist/fmnist-cnn jpeg eot-bpda-pgd l2 0.5 "
                         '{"eot": 4, "steps": 10} seed 0)')


def test_compare_refuses_bad_tables():
    from cnr.analysis.compare import compare_tables

    ref = pd.read_csv(QUICK_TABLE)
    with pytest.raises(InputError, match="the candidate table lacks the column.* accuracy"):
        compare_tables(ref, ref.drop(columns="accuracy"))
    with pytest.raises(InputError, match="the reference table has rows 1 and 152 with the same key"):
        compare_tables(pd.concat([ref, ref.head(1)]), ref)
    bad = ref.copy()
    bad.loc[0, "accuracy"] = 1.7
    with pytest.raises(InputError, match=r"row 1 \(line 2\): 'accuracy': expected a finite number in \[0, 1\], got 1.7"):
        compare_tables(ref, bad)
    with pytest.raises(InputError, match="alpha must be a probability"):
        compare_tables(ref, ref, alpha=5)
    assert issubclass(InputError, CnrError)

"""cnr.parsing's one integer check and its forms (counts, QFs, seeds, booleans, attack parameters, command-line
text, Limit declarations)."""
import argparse
import re

import numpy as np
import pytest
from helpers import mentions

from cnr.errors import InputError
from cnr.parsing import (
    QF_MAX,
    QF_MIN,
    Limit,
    argtype,
    check_int,
    check_qf,
    count_limit,
    nonnegative_float,
    nonnegative_int,
    parse_bool,
    parse_param_value,
    parse_params,
    parse_qf_range,
    parse_seed,
    positive_int,
)


def test_check_int_takes_python_and_numpy_ints_and_returns_an_int():
    for value in (3, np.int64(3), np.uint8(3)):
        n = check_int(value, "n", 1, 5)
        assert n == 3 and type(n) is int
    assert check_int(-7, "offset") == -7 and check_int(None, "limit", 1, optional=True) is None


@pytest.mark.parametrize("value, got", [
    (True, "got bool True"), (np.bool_(True), "got bool np.True_"), (2.0, "got float 2.0; pass 2"),
    (2.5, "got float 2.5; pass a whole number"), ("3", "got str '3'; pass 3 (a number, not text)"),
    (None, "got NoneType None"), ([3], "got list [3]"), (0, "got 0"), (6, "got 6"),
])
def test_check_int_names_the_argument_the_value_and_the_range(value, got):
    with pytest.raises(InputError) as e:
        check_int(value, "draws", 1, 5)
    assert str(e.value).startswith(f"draws: expected an integer in [1, 5], {got}")


def test_text_is_parsed_only_where_asked():
    assert check_int(" 12 ", "n", text=True) == 12 and positive_int("+4") == 4 and nonnegative_int("0") == 0
    for bad in ("2.5", "1e3", "abc", "", "0x10"):
        with pytest.raises(InputError, match=f"--limit: expected an integer >= 1, got {bad!r}$"):
            check_int(bad, "--limit", 1, text=True)
    with pytest.raises(InputError, match="expected an integer >= 0, got -1"):
        nonnegative_int("-1")


def test_qfs_and_seeds_are_integers_in_their_ranges():
    assert (QF_MIN, QF_MAX) == (1, 100) and check_qf(np.int32(40)) == 40 and check_qf("60", text=True) == 60
    for bad, got in [(0, "got 0"), (101, "got 101"), (40.0, "got float 40.0"), ("40", "got str '40'")]:
        with pytest.raises(InputError, match=rf"^qf: expected an integer in \[1, 100\], {got}"):
            check_qf(bad)
    assert parse_seed("7") == 7
    with pytest.raises(InputError, match=r"seed: expected an integer in \[0, 4294967295\], got 4294967296"):
        parse_seed(2**32, "seed")


def test_qf_range_from_python_values_refuses_text():
    assert parse_qf_range((20, 60), "qf_range", text=False) == (20, 60)
    assert parse_qf_range(np.int64(40), "qf_range", text=False) == (40, 40)
    with pytest.raises(InputError, match="qf_range: expected a JPEG quality factor or a range.*got str '20,60'"):
        parse_qf_range("20,60", "qf_range", text=False)
    with pytest.raises(InputError, match=r"qf_range: expected an integer in \[1, 100\], got str '20'"):
        parse_qf_range(("20", "60"), "qf_range", text=False)
    assert parse_qf_range(("20", "60"), "--qf-range") == (20, 60)


def test_integer_limits_are_the_one_check():
    assert count_limit(2).describe() == "an integer in [2, 1000000]"
    assert count_limit(2, None).describe() == "an integer >= 2"
    assert Limit("int", lo=0, hi=2**32 - 1).describe() == "an integer in [0, 4294967295]"
    assert Limit("int", lo=0, hi=10, lo_open=True, hi_open=True).describe() == "an integer in [1, 9]"
    assert Limit("int", lo=1, optional=True).check(None, "n") is None
    assert type(count_limit().check(np.int64(3), "n")) is int
    with pytest.raises(InputError, match=r"^'n': expected an integer >= 1 \(or None\), got float 2.5"):
        Limit("int", lo=1, optional=True).check(2.5, "'n'")


def test_parse_bool_is_strict():
    for t in ("true", "YES", "1", "On", " yes ", True, 1):
        assert parse_bool(t) is True
    for f in ("false", "No", "0", "OFF", False, 0):
        assert parse_bool(f) is False
    for bad in ("nope", "", "2", "tru", 2, None, 0.0):
        with pytest.raises(InputError, match=r"true/false, yes/no, 1/0, on/off"):  # the spellings it takes
            parse_bool(bad)


def test_numbers_and_seeds():
    assert positive_int("12") == 12 and positive_int(3) == 3
    for bad in ("0", "-1", "2.5", "1e3", "abc", "", 2.0, True):
        with pytest.raises(InputError, match=r"^limit\b"):
            positive_int(bad, "limit")
    assert nonnegative_float("0.03") == 0.03 and nonnegative_float(0) == 0.0
    assert nonnegative_float("inf", finite=False) == float("inf")
    for bad, msg in [("-0.1", "got -0.1"), ("nan", "NaN"), ("inf", "finite"), ("x", "got 'x'"), (True, "bool")]:
        with pytest.raises(InputError, match=msg):
            nonnegative_float(bad, "budget")
    assert parse_seed("7") == 7 and parse_seed(0) == 0
    for bad in ("abc", "1.0", 1.5, -1, 2**32, True):
        with pytest.raises(InputError, match=r"^seed\b.*4294967295"):
            parse_seed(bad, "seed")


@pytest.mark.parametrize("text, want", [("40", (40, 40)), ("20,60", (20, 60)), ("(20, 60)", (20, 60)),
                                        ("[20, 60]", (20, 60)), ((20, 60), (20, 60)), ([5, 5], (5, 5)), (90, (90, 90))])
def test_parse_qf_range_accepts(text, want):
    assert parse_qf_range(text) == want


@pytest.mark.parametrize("bad, msg", [("20,40,60", "got 3 values"), ("20-60", "'20-60'.*20,60"),  # how to write it
                                      ("60,20", "60,20.*20,60"), ("0,50", r"\[1, 100\], got 0"),
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
    for name, text, default, shown in [("targeted", "maybe", False, "'maybe'"), ("steps", "2.5", 10, "'2.5'"),
                                       ("steps", "ten", 10, "'ten'"), ("step_size", "fast", 0.1, "'fast'"),
                                       ("step_size", "nan", 0.1, "NaN")]:
        with pytest.raises(InputError, match=rf"'{name}'.*{shown}"):
            parse_param_value(name, text, default)
    assert parse_params(["steps=5", "targeted=off"], {"steps": 10, "targeted": False}) == {"steps": 5,
                                                                                          "targeted": False}
    with pytest.raises(InputError, match=r"'stesp'.*steps, targeted"):
        parse_params(["stesp=5"], {"steps": 10, "targeted": False})
    with pytest.raises(InputError, match="name=value.*'steps'"):
        parse_params(["steps"], {"steps": 10})


def test_argparse_types_give_one_usage_line_and_exit_code_2(capsys):
    p = argparse.ArgumentParser(prog="cnr attack")
    p.add_argument("--n-images", type=argtype(positive_int))
    p.add_argument("--qf-range", type=argtype(parse_qf_range))
    p.add_argument("--budget", type=argtype(nonnegative_float, finite=False))
    p.add_argument("--amp", type=argtype(parse_bool))
    ns = p.parse_args(["--n-images", "5", "--qf-range", "20,60", "--budget", "inf", "--amp", "no"])
    assert (ns.n_images, ns.qf_range, ns.budget, ns.amp) == (5, (20, 60), float("inf"), False)
    for argv, msg in [(["--n-images", "2.5"], ("--n-images", "'2.5'")),
                      (["--qf-range", "20-60"], ("--qf-range", "'20-60'", "20,60")),  # and how to write it
                      (["--amp", "nein"], ("--amp", "'nein'"))]:
        with pytest.raises(SystemExit) as e:
            p.parse_args(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert mentions(err, msg) and "Traceback" not in err, err


@pytest.mark.parametrize("value", [(20,), [20], (20, 40, 60), ()])
def test_qf_range_takes_a_pair_or_one_int(value):
    """A 1-tuple is a pair with a value missing, not a fixed QF; the bare int (or text '40') stays a fixed QF."""
    with pytest.raises(InputError, match=r"qf_range.*values in " + re.escape(repr(value))):
        parse_qf_range(value, "qf_range", text=False)
    assert parse_qf_range(20, "qf_range", text=False) == (20, 20) and parse_qf_range("20", "qf_range") == (20, 20)


def test_counts_of_work_have_an_upper_end_and_a_rows_own_counts_none():
    from cnr.parsing import EFFORT_MAX, count_limit

    assert count_limit().check(EFFORT_MAX, "steps") == EFFORT_MAX
    with pytest.raises(InputError, match=r"steps: expected an integer in \[1, 1000000\], got 1000000000000"):
        count_limit().check(10**12, "steps")  # would run for days: a typo, not a plan
    assert count_limit(0, None).check(2**40, "n_forward") == 2**40

"""cnr.parsing's one integer check and its forms (counts, QFs, seeds, command-line text, Limit declarations)."""
import numpy as np
import pytest

from cnr.errors import InputError
from cnr.parsing import (
    QF_MAX,
    QF_MIN,
    Limit,
    check_int,
    check_qf,
    count_limit,
    nonnegative_int,
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
    assert count_limit(2).describe() == "an integer >= 2"
    assert Limit("int", lo=0, hi=2**32 - 1).describe() == "an integer in [0, 4294967295]"
    assert Limit("int", lo=0, hi=10, lo_open=True, hi_open=True).describe() == "an integer in [1, 9]"
    assert Limit("int", lo=1, optional=True).check(None, "n") is None
    assert type(count_limit().check(np.int64(3), "n")) is int
    with pytest.raises(InputError, match=r"^'n': expected an integer >= 1 \(or None\), got float 2.5"):
        Limit("int", lo=1, optional=True).check(2.5, "'n'")

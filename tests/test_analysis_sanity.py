"""cnr.analysis.sanity: the checks pass on the smoke grid, fail on a broken table, and `cnr sanity` runs them."""
from __future__ import annotations

import pytest
from helpers import mentions, run_cli

from cnr import cli
from cnr.analysis.sanity import monotone_in_budget, sanity_report, white_beats_black, worst_below_mean


def _shipped_table():
    import pandas as pd

    from cnr.paths import RESULTS_DIR

    return pd.read_csv(RESULTS_DIR / "quick" / "tables" / "robustness.csv")


@pytest.mark.usefixtures("scratch_results")
def test_sanity_refuses_a_table_whose_accuracy_is_not_a_fraction(capsys, tmp_path):
    tables = tmp_path / "results" / "quick" / "tables"
    tables.mkdir(parents=True)
    df = _shipped_table()
    df.loc[2, "accuracy"] = 7.5
    df.to_csv(tables / "robustness.csv", index=False)
    code, text = run_cli(capsys, "sanity")
    assert code == 2 and mentions(text, ("robustness.csv row 3 (line 4)", "'accuracy'", "7.5")), text


def test_sanity_checks_pass_on_the_smoke_grid(smoke_table):
    df, _ = smoke_table
    report = sanity_report(df).set_index("check")
    must_pass = ["accuracy non-increasing in the budget", "worst case <= mean over draws",
                 "white-box beats black-box square (undefended, linf 0.1)",
                 "white-box beats black-box square (undefended, l2 0.2)",
                 "white-box beats black-box nattack (undefended, linf 0.1)",
                 "white-box beats black-box hsj (undefended, l2 0.2)"]
    assert set(must_pass) <= set(report.index)
    assert report.loc[must_pass, "passed"].all(), report.loc[must_pass][~report.loc[must_pass, "passed"]].to_string()


def test_sanity_checks_catch_a_broken_table(smoke_table):
    df = smoke_table[0].copy()
    assert monotone_in_budget(df)["passed"] and worst_below_mean(df)["passed"]
    rows = df[(df["defense"] == "none") & (df["attack"] == "bpda-pgd") & (df["norm"] == "linf")].sort_values("budget")
    bad = df.copy()
    bad.loc[rows.index[-1], "worst_accuracy"] = 1.0  # accuracy rising with the budget: an evaluation bug
    assert not monotone_in_budget(bad)["passed"]
    bad = df.copy()
    i = bad[(bad["defense"] == "dynamic-N3") & (bad["attack"] == "clean")].index[0]
    bad.loc[i, "worst_accuracy"] = bad.loc[i, "accuracy"] + 0.1
    assert not worst_below_mean(bad)["passed"] and f"1 of {len(df)} rows" in worst_below_mean(bad)["detail"]
    bad = df.copy()
    sq = bad[(bad["mode"] == "none") & (bad["attack"] == "square") & (bad["norm"] == "linf")].index
    wb = bad[(bad["mode"] == "none") & bad["kind"].isin(["white-box", "adaptive"]) & (bad["norm"] == "linf")
             & ((bad["budget"] - 0.1).abs() < 1e-9)].index
    bad.loc[wb, "accuracy"], bad.loc[sq, "accuracy"] = 0.5, 0.0  # a black-box attack stronger than every white-box
    checks = {c["check"]: c["passed"] for c in white_beats_black(bad)}
    assert checks["white-box beats black-box square (undefended, linf 0.1)"] is False
    assert checks["white-box beats black-box square (undefended, l2 0.2)"] is True


def test_cli_sanity_runs_the_direct_checks_on_the_runs_table(smoke_table, monkeypatch, capsys):
    grid_run = smoke_table[1]
    monkeypatch.setenv("CNR_RESULTS", grid_run.results_root)  # the CLI's results root, for this test only
    rc = cli.main(["sanity", "--profile", "smoke", "--set", "grid_workers=2"])
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 100
    status = {ln[7:]: ln[:7].strip() for ln in lines if ln[:7].strip() in ("pass", "FAIL", "marked")}
    for check in ("unbounded attack reaches ~0% (undefended)", "more steps never raise accuracy (undefended)",
                  "the defense is detected as random", "accuracy non-increasing in the budget"):
        assert status[check] == "pass", (check, status)
    assert len(status) >= 10
    assert rc == (1 if "FAIL" in status.values() else 0)  # the exit code says whether a check failed
    assert "(exit status 1)" in lines[-1] if rc else "(exit status 0)" in " ".join(lines[-2:])
    monkeypatch.setenv("CNR_RESULTS", str(grid_run.results_root) + "-empty")
    assert cli.main(["sanity", "--profile", "smoke"]) == 2
    assert "no results in" in capsys.readouterr().err


def test_sanity_reads_a_table_without_the_mode_and_kind_columns():
    df = _shipped_table()
    older = df.drop(columns=["mode", "kind"])
    assert sanity_report(older).equals(sanity_report(df))


@pytest.mark.usefixtures("scratch_results")
def test_cli_sanity_refuses_rows_of_another_seed(capsys, tmp_path):
    tables = tmp_path / "results" / "quick" / "tables"
    tables.mkdir(parents=True)
    df = _shipped_table()
    df.loc[3, "seed"] = 1  # a row written by `--seed 1` into the seed-0 folder
    df.to_csv(tables / "robustness.csv", index=False)
    code, text = run_cli(capsys, "sanity")
    assert code == 2 and mentions(text, ("robustness.csv", "another run", "seed 1", "--profile quick --seed 1")), text


def test_inconclusive_rows_marked_as_designed_exit_0_and_a_failed_check_exits_1():
    from cnr.analysis.sanity import exit_status, report_lines

    report = sanity_report(_shipped_table())  # the quick table: its inconclusive attacks are marked, as designed
    assert set(report["status"]) == {"pass", "marked"} and exit_status(report) == 0
    lines = report_lines(report)
    assert max(map(len, lines)) <= 100 and "not a failure (exit status 0)" in " ".join(lines[-2:])
    assert any(ln.startswith("marked every attack conclusive") for ln in lines)
    broken = report.copy()
    broken.loc[0, ["passed", "status"]] = [False, "FAIL"]
    assert exit_status(broken) == 1 and report_lines(broken)[-1].endswith("(exit status 1)")

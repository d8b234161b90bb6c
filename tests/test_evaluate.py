"""The results table: scoring over draws, resume, shards, the grid's coverage, and the sanity checks on smoke."""
import json

import pandas as pd
import pytest
import torch

from cnr import cli
from cnr.errors import InputError
from cnr.evaluate import (KEY_COLUMNS, AttackSpec, Cell, DefenseSpec, parse_shard, read_rows, run_cells, score,
                          summarize)
from cnr.grid import build_grid, make_evaluator, run_grid
from cnr.profiles import get_profile
from cnr.sanity import sanity_report

GRID_ATTACKS = {"clean", "bpda-pgd", "eot-bpda-pgd", "oblivious-pgd", "generalized-bpda-pgd", "eot-diffjpeg-pgd",
                "deepfool", "cw", "square", "nattack", "hsj", "autoattack-rand"}


@pytest.fixture(scope="module")
def ev():
    return make_evaluator("smoke")


@pytest.fixture(scope="module")
def smoke_table(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "robustness.csv"
    return run_grid("smoke", out_csv=out), out


def test_summarize_mean_worst_and_intervals():
    correct = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 1]], dtype=torch.bool)  # 2 draws x 4 images
    s = summarize(correct)
    assert s["n"] == 4 and s["draws"] == 2
    assert s["accuracy"] == pytest.approx(5 / 8) and s["worst_accuracy"] == pytest.approx(2 / 4)
    assert s["acc_lo"] <= s["accuracy"] <= s["acc_hi"] and s["worst_lo"] <= s["worst_accuracy"] <= s["worst_hi"]


def test_score_uses_fresh_pinned_draws_of_a_random_defense(ev):
    cell = Cell(DefenseSpec("dynamic-N3", "dynamic", 3, (20, 60)), AttackSpec("clean", "clean", "linf", 0.0))
    defense = cell.defense.build(ev.bank)
    from cnr.defense import Defended

    model = Defended(defense, ev.classifier)
    a, b = score(model, ev.x[:16], ev.y[:16], 3), score(model, ev.x[:16], ev.y[:16], 3)
    assert torch.equal(a, b)  # the scoring draws are pinned: re-scoring gives the same matrix


def test_grid_covers_every_attack_and_defense_of_the_issue():
    for profile in ("smoke", "quick"):
        cells = build_grid(profile)
        assert {c.attack.label for c in cells} == GRID_ATTACKS
        names = {c.defense.name for c in cells}
        assert {"none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3",
                "dynamic-N5"} <= names
        keys = [tuple(c.key("d", "c", 0).values()) for c in cells]
        assert len(keys) == len(set(keys))  # every cell has its own row key
    p = get_profile("quick")
    bpda = {(c.attack.norm, c.attack.budget) for c in build_grid(p) if c.attack.label == "eot-bpda-pgd"}
    assert bpda == {("linf", b) for b in p.linf_budgets} | {("l2", b) for b in p.l2_budgets}


def test_zero_budget_is_clean_accuracy(ev):
    d = DefenseSpec("none", "none")
    clean = ev.run_cell(Cell(d, AttackSpec("clean", "clean", "linf", 0.0)))
    zero = ev.run_cell(Cell(d, AttackSpec("bpda-pgd", "pgd", "linf", 0.0, params=(("steps", 2),))))
    assert zero["accuracy"] == clean["accuracy"] and zero["n_forward"] == 0


def test_oblivious_cells_reuse_the_undefended_attack(monkeypatch):
    import cnr.attacks as attacks

    ev = make_evaluator("smoke")  # a fresh cache
    calls = []
    real = attacks.run_attack
    monkeypatch.setattr(attacks, "run_attack", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    pgd = AttackSpec("bpda-pgd", "pgd", "linf", 0.1, params=(("steps", 3),))
    oblivious = AttackSpec("oblivious-pgd", "pgd", "linf", 0.1, view="oblivious", params=(("steps", 3),))
    none = ev.run_cell(Cell(DefenseSpec("none", "none"), pgd))
    for d in (DefenseSpec("jpeg", "jpeg", 1, (20, 60)), DefenseSpec("static-N1", "static", 1, (20, 60))):
        row = ev.run_cell(Cell(d, oblivious))
        assert row["n_forward"] == none["n_forward"] and row["pert_l2_median"] == none["pert_l2_median"]
    assert calls == [ev.classifier]  # crafted once, on the bare classifier
    ev.run_cell(Cell(DefenseSpec("jpeg", "jpeg", 1, (20, 60)), pgd))  # an adaptive cell is never served from it
    assert len(calls) == 2


def test_resume_skips_finished_rows_and_a_torn_line_is_ignored(ev, tmp_path):
    out = tmp_path / "t.csv"
    d = DefenseSpec("none", "none")
    cells = [Cell(d, AttackSpec("bpda-pgd", "pgd", "linf", b, params=(("steps", 2),))) for b in (0.05, 0.1)]
    df = run_cells(ev, cells, out)
    assert len(df) == 2 and out.is_file()
    rows = tmp_path / "t.rows-1-of-1.jsonl"
    with open(rows, "a") as f:
        f.write('{"dataset": "fmn')  # the row in flight when the process died
    calls = []
    real = ev.run_cell
    ev.run_cell = lambda c: calls.append(c) or real(c)
    try:
        df2 = run_cells(ev, cells + [Cell(d, AttackSpec("bpda-pgd", "pgd", "linf", 0.2, params=(("steps", 2),)))], out)
    finally:
        del ev.run_cell
    assert len(calls) == 1 and calls[0].attack.budget == 0.2  # only the unfinished cell ran
    assert len(df2) == 3 and not df2.duplicated(KEY_COLUMNS).any()


def test_shards_split_the_cells_and_merge_by_key(ev, tmp_path):
    out = tmp_path / "s.csv"
    d = DefenseSpec("none", "none")
    cells = [Cell(d, AttackSpec("bpda-pgd", "pgd", "linf", b, params=(("steps", 2),))) for b in (0.05, 0.1, 0.2)]
    a = run_cells(ev, cells, out, shard=(1, 2))
    assert len(a) == 2  # cells 1 and 3
    merged = run_cells(ev, cells, out, shard=(2, 2))
    assert sorted(merged["budget"]) == [0.05, 0.1, 0.2]
    assert len(list(tmp_path.glob("s.rows-*-of-2.jsonl"))) == 2
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "x", "1-2"):
        with pytest.raises(InputError, match="shard"):
            parse_shard(bad)


def test_smoke_grid_writes_every_attack_with_setup_and_intervals(smoke_table):
    df, out = smoke_table
    assert set(df["attack"]) == GRID_ATTACKS
    assert df["accuracy"].between(0, 1).all() and (df["worst_accuracy"] <= df["accuracy"] + 1e-9).all()
    assert (df["acc_lo"] <= df["accuracy"]).all() and (df["accuracy"] <= df["acc_hi"]).all()
    for col in ("dataset", "classifier", "n", "seed", "params", "budget", "norm", "draws", "wall_s"):
        assert df[col].notna().all(), col
    assert (df[df["random_defense"]]["draws"] == get_profile("smoke").draws).all()
    assert json.loads(df[df["attack"] == "eot-bpda-pgd"]["params"].iloc[0])["eot"] == get_profile("smoke").eot_samples
    assert pd.read_csv(out).shape[0] == len(df)


def test_sanity_checks_pass_on_the_smoke_grid(smoke_table, ev):
    df, _ = smoke_table
    report = sanity_report(df, ev, "smoke")
    assert set(report["check"]) >= {"accuracy non-increasing in the budget", "white-box beats black-box (undefended)",
                                    "unbounded attack reaches ~0% (undefended)",
                                    "more steps never raise accuracy (undefended)", "the defense is detected as random"}
    assert report["passed"].all(), report[~report["passed"]].to_string()


def test_sanity_check_catches_a_non_monotone_table(smoke_table):
    from cnr.sanity import monotone_in_budget

    df = smoke_table[0].copy()
    rows = df[(df["defense"] == "none") & (df["attack"] == "bpda-pgd") & (df["norm"] == "linf")].sort_values("budget")
    df.loc[rows.index[-1], "worst_accuracy"] = 1.0  # accuracy rising with the budget: an evaluation bug
    assert not monotone_in_budget(df)["passed"]


def test_cli_attack_one_cell_and_unknown_names(capsys):
    assert cli.main(["attack", "--profile", "smoke", "--defense", "jpeg", "--attack", "pgd", "--budget", "0.1",
                     "--n-images", "8", "--param", "steps=2"]) == 0
    out = capsys.readouterr().out
    assert "worst_accuracy" in out and "n_forward" in out
    assert cli.main(["attack", "--profile", "smoke", "--defense", "magic"]) == 2
    assert "valid" in capsys.readouterr().err
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--attack", "nope", "--n-images", "4"]) == 2
    assert "pgd" in capsys.readouterr().err

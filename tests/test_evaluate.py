"""The results table: scoring over draws, resume, shards, the grid's coverage, and the sanity checks on smoke."""
import json
import tempfile
import warnings

import pandas as pd
import pytest
import torch

from cnr import cli
from cnr.analysis.sanity import monotone_in_budget, sanity_report, white_beats_black, worst_below_mean
from cnr.cells.groups import GROUPS, CellGroup, build_grid, refs, register_group, select, unregister_group
from cnr.cells.specs import AttackSpec, Cell
from cnr.defenses import Defended, DefenseSpec, defense_by_name
from cnr.errors import InputError
from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import KEY_COLUMNS, read_rows
from cnr.eval.scoring import EVAL_DRAW_BASE, score, summarize
from cnr.grid import parse_shard, run_cells, run_grid
from cnr.prediction import predict
from cnr.profiles import PROFILES
from cnr.run import resolve_run
from cnr.stats import wilson_interval

GRID_ATTACKS = {"clean", "bpda-pgd", "eot-bpda-pgd", "oblivious-pgd", "generalized-bpda-pgd", "eot-diffjpeg-pgd",
                "deepfool", "cw", "square", "nattack", "hsj", "autoattack-rand"}
SMOKE = PROFILES["smoke"]
NONE = DefenseSpec("none", "none")
# The smoke grid's override: the profile's own value, so the numbers are smoke's, but the run is "smoke+..." and
# its worker processes must receive it (they get the run as JSON) and write it into every row.
OVERRIDE = {"grid.workers": 2}
# Accuracies (mean over draws, worst case) of smoke cells, measured on this kit's first 16 (8: costly) test images.
# Tolerance: one image either way (1/16), for a gradient sign that flips on another CPU kernel or thread count.
PINNED = {
    ("none", "clean", "linf", 0.0): (1.0, 1.0),
    ("static-N3", "clean", "linf", 0.0): (0.96875, 0.9375),
    ("dynamic-N5", "clean", "linf", 0.0): (0.90625, 0.875),
    ("none", "bpda-pgd", "linf", 0.1): (0.0, 0.0),
    ("static-N3", "bpda-pgd", "linf", 0.1): (0.53125, 0.4375),
    ("dynamic-N3", "bpda-pgd", "linf", 0.1): (0.34375, 0.3125),
    ("dynamic-N3", "bpda-pgd", "linf", 0.3): (0.0, 0.0),
    ("static-N3", "oblivious-pgd", "linf", 0.1): (0.78125, 0.75),
    ("none", "square", "linf", 0.1): (0.75, 0.75),
    ("dynamic-N3", "autoattack-rand", "linf", 0.1): (0.5, 0.5),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return resolve_run("smoke", results_root=tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def ev(run):
    return make_evaluator(run)


@pytest.fixture(scope="module")
def smoke_table(tmp_path_factory):
    """The whole smoke grid, split over the profile's two worker processes (`cnr grid --run-json`)."""
    root = tmp_path_factory.mktemp("grid")
    grid_run = resolve_run("smoke", OVERRIDE, results_root=root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(root))  # the run's JSON for the workers goes here too
        df = run_grid(grid_run)
    return df, grid_run


def _pgd(budget, steps=2, norm="linf", **kw):
    return AttackSpec("bpda-pgd", "pgd", norm, budget, params=(("steps", steps),), **kw)


def test_summarize_mean_worst_and_intervals():
    correct = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 1]], dtype=torch.bool)  # 2 draws x 4 images
    s = summarize(correct)
    assert s["n"] == 4 and s["draws"] == 2
    assert s["accuracy"] == pytest.approx(5 / 8) and s["worst_accuracy"] == pytest.approx(2 / 4)
    # the mean's interval is Wilson at k = round(2.5) = 2 of 4; the worst case's at 2 of 4 (published values)
    assert (s["acc_lo"], s["acc_hi"]) == (pytest.approx(0.1500, abs=5e-5), pytest.approx(0.8500, abs=5e-5))
    assert (s["worst_lo"], s["worst_hi"]) == (pytest.approx(0.1500, abs=5e-5), pytest.approx(0.8500, abs=5e-5))
    assert s["draw_std"] == pytest.approx(0.1767767, abs=1e-6)  # per-draw 3/4 and 2/4, sample std
    one = summarize(torch.tensor([[True] * 7 + [False] * 3]))
    assert one["accuracy"] == one["worst_accuracy"] == pytest.approx(0.7) and one["draw_std"] == 0.0
    assert (one["acc_lo"], one["acc_hi"]) == pytest.approx(wilson_interval(7, 10))


def test_score_uses_fresh_pinned_draws_of_a_random_defense(ev):
    model = Defended(defense_by_name(SMOKE, "dynamic-N3").build(ev.bank), ev.classifier)
    x, y = ev.x[:16], ev.y[:16]
    a = score(model, x, y, 3)
    assert a.shape == (3, 16) and torch.equal(a, score(model, x, y, 3))  # pinned: re-scoring gives the same matrix
    assert model.defense.calls == 0  # scoring never advances the attack's draw counter
    for j in range(3):  # draw j of the scoring is draw EVAL_DRAW_BASE + j of the defense, never one an attack saw
        assert torch.equal(a[j], predict(model, x, draw=EVAL_DRAW_BASE + j) == y.cpu())
    bare = score(ev.classifier, x, y, 1)
    assert bare.shape == (1, 16) and bare.all()  # the shipped classifier gets the first 16 images right


def test_grid_covers_every_attack_and_defense_of_the_issue():
    for name in ("smoke", "quick"):
        cells = build_grid(PROFILES[name])
        assert {c.attack.label for c in cells} == GRID_ATTACKS
        names = {c.defense.name for c in cells}
        assert {"none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3",
                "dynamic-N5", "dynamic-N3-qf40"} == names
        keys = [tuple(c.key("d", "c", 0).values()) for c in cells]
        assert len(keys) == len(set(keys))  # every cell has its own row key
    assert len(build_grid(SMOKE)) == 111 and len(build_grid(PROFILES["quick"])) == 151
    p = PROFILES["quick"]
    eot = {(c.attack.norm, c.attack.budget) for c in build_grid(p) if c.attack.label == "eot-bpda-pgd"}
    assert eot == {("linf", b) for b in p.grid.linf_budgets} | {("l2", b) for b in p.grid.l2_budgets}
    ablation = {c.defense.name for c in build_grid(p) if c.attack.label == "bpda-pgd" and c.attack.budget == p.grid.ref_linf}
    assert ablation == {"none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3",
                        "dynamic-N5", "dynamic-N3-qf40"}  # the ablation defenses only at the reference budgets
    assert {c.defense.name for c in build_grid(p) if c.attack.label == "bpda-pgd" and c.attack.budget == 0.3} == {
        "none", "jpeg", "static-N3", "dynamic-N3"}


def test_a_registered_group_joins_the_grid():
    group = CellGroup("fgsm-ref", "fgsm", "white-box", refs, select(("main",)))
    register_group(group)
    try:
        cells = [c for c in build_grid(SMOKE) if c.attack.label == "fgsm-ref"]
        assert {(c.attack.norm, c.attack.budget) for c in cells} == {("linf", 0.1), ("l2", 0.2)}
        assert {c.defense.name for c in cells} == {"none", "jpeg", "static-N3", "dynamic-N3"}
    finally:
        unregister_group("fgsm-ref")
    assert "fgsm-ref" not in GROUPS and len(build_grid(SMOKE)) == 111
    with pytest.raises(InputError, match="kind must be one of clean, white-box"):
        register_group(CellGroup("x", "fgsm", "grey-box", refs, select(("main",))))
    with pytest.raises(InputError, match="cell group 'x': view must be one of bpda, surrogate, .*got 'exact'"):
        register_group(CellGroup("x", "fgsm", "white-box", refs, select(("main",)), view="exact"))
    with pytest.raises(InputError, match="cell group 'x': sample must be one of eval, costly, blackbox, got 'big'"):
        register_group(CellGroup("x", "fgsm", "white-box", refs, select(("main",)), sample="big"))


def test_evaluator_holds_the_runs_images_and_models(run):
    small = make_evaluator(resolve_run("smoke", {"n_eval": 4, "n_costly": 6}, results_root=run.results_root))
    assert small.x.shape == (6, 1, 28, 28) and small.sizes == {"eval": 4, "costly": 6, "blackbox": 6}
    fewer = resolve_run("smoke", {"n_eval": 4, "n_costly": 6, "n_blackbox": 3}, results_root=run.results_root)
    assert fewer.profile.sample_sizes() == {"eval": 4, "costly": 6, "blackbox": 3}
    assert small.y.tolist() == [9, 2, 1, 1, 6, 1] and small.bank.qfs == (5, 10, 20, 30, 40, 60)
    assert (small.dataset, small.classifier_name, small.seed, small.draws) == ("fmnist", "fmnist-cnn", 0, 2)


def test_zero_budget_is_clean_accuracy(ev):
    clean = ev.run_cell(Cell(NONE, AttackSpec("clean", "clean", "linf", 0.0, kind="clean")))
    zero = ev.run_cell(Cell(NONE, _pgd(0.0)))
    assert zero["accuracy"] == clean["accuracy"] == 1.0 and zero["n_forward"] == 0 and clean["n"] == 16
    assert clean["pert_linf_max"] == 0.0 and clean["kind"] == "clean" and zero["kind"] == "adaptive"


def test_a_pgd_cell_on_16_images_is_pinned(ev):
    # the grid's bpda-pgd cell of dynamic-N3 at Linf 0.1, run directly: the same numbers as in the table (PINNED)
    row = ev.run_cell(Cell(defense_by_name(SMOKE, "dynamic-N3"), _pgd(0.1, steps=SMOKE.attacks["pgd"]["steps"], ablation=True)))
    mean, worst = PINNED[("dynamic-N3", "bpda-pgd", "linf", 0.1)]
    assert row["accuracy"] == pytest.approx(mean, abs=1 / 16) and row["worst_accuracy"] == pytest.approx(worst, abs=1 / 16)
    assert (row["n"], row["draws"], row["random_defense"], row["view"]) == (16, 2, True, "bpda")
    # one image to read the class count, then (steps + final check) x 16 forward and steps x 16 backward passes
    assert (row["n_forward"], row["n_backward"]) == (1 + 6 * 16, 5 * 16)
    assert row["pert_linf_max"] == pytest.approx(0.1, abs=1e-6)  # PGD uses the whole Linf budget
    assert (row["mode"], row["n_iter"], row["qf_lo"], row["qf_hi"], row["random_qf"], row["roles"]) == (
        "dynamic", 3, 20, 60, True, "main")
    assert (row["profile"], json.loads(row["overrides"])) == ("smoke", {})


def test_oblivious_cells_reuse_the_undefended_attack(monkeypatch, run):
    import cnr.attacks as attacks

    ev = make_evaluator(run)  # a fresh cache
    calls = []
    real = attacks.run_attack
    monkeypatch.setattr(attacks, "run_attack", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    pgd = _pgd(0.1, steps=3)
    oblivious = AttackSpec("oblivious-pgd", "pgd", "linf", 0.1, view="oblivious", params=(("steps", 3),))
    none = ev.run_cell(Cell(NONE, pgd))
    for name in ("jpeg", "static-N1"):
        row = ev.run_cell(Cell(defense_by_name(SMOKE, name), oblivious))
        assert row["n_forward"] == none["n_forward"] and row["pert_l2_median"] == none["pert_l2_median"]
    assert calls == [ev.classifier]  # crafted once, on the bare classifier
    ev.run_cell(Cell(defense_by_name(SMOKE, "jpeg"), pgd))  # an adaptive cell is never served from it
    assert len(calls) == 2 and calls[1] is not ev.classifier


def test_resume_skips_finished_rows_and_a_torn_line_is_ignored(ev, tmp_path):
    from cnr.eval.rows import RowStoreWarning

    out = tmp_path / "t.csv"
    cells = [Cell(NONE, _pgd(b)) for b in (0.05, 0.1)]
    df = run_cells(ev, cells, out)
    assert len(df) == 2 and out.is_file() and sorted(df["budget"]) == [0.05, 0.1]
    rows = tmp_path / "t.rows-1-of-1.jsonl"
    with open(rows, "a") as f:
        f.write('{"dataset": "fmn')  # the row in flight when the process died
    calls = []
    real = ev.run_cell
    ev.run_cell = lambda c, *a, **k: calls.append(c) or real(c, *a, **k)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RowStoreWarning)  # the torn line is reported, then dropped
            df2 = run_cells(ev, cells + [Cell(NONE, _pgd(0.2))], out)
    finally:
        del ev.run_cell
    assert len(calls) == 1 and calls[0].attack.budget == 0.2  # only the unfinished cell ran
    assert len(df2) == 3 and not df2.duplicated(KEY_COLUMNS).any()
    assert len(read_rows(out)) == 3 and len(pd.read_csv(out)) == 3
    resumed = df2.set_index("budget").loc[[0.05, 0.1], "accuracy"].tolist()
    assert resumed == df.set_index("budget").loc[[0.05, 0.1], "accuracy"].tolist()  # the kept rows, unchanged


def test_shards_split_the_cells_and_merge_by_key(ev, tmp_path):
    out = tmp_path / "s.csv"
    cells = [Cell(NONE, _pgd(b)) for b in (0.05, 0.1, 0.2)]
    a = run_cells(ev, cells, out, shard=(1, 2))
    assert sorted(a["budget"]) == [0.05, 0.2]  # cells 1 and 3
    merged = run_cells(ev, cells, out, shard=(2, 2))
    assert sorted(merged["budget"]) == [0.05, 0.1, 0.2]
    assert sorted(p.name for p in tmp_path.glob("s.rows-*.jsonl")) == ["s.rows-1-of-2.jsonl", "s.rows-2-of-2.jsonl"]
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (1, 1)
    for bad in ("0/2", "3/2", "x", "1-2"):
        with pytest.raises(InputError, match="shard"):
            parse_shard(bad)


def test_smoke_grid_writes_every_cell_with_its_setup(smoke_table):
    df, grid_run = smoke_table
    assert len(df) == 111 and set(df["attack"]) == GRID_ATTACKS and not df.duplicated(KEY_COLUMNS).any()
    assert grid_run.name == "smoke+grid.workers=2" and grid_run.robustness_csv.is_file()
    assert len(pd.read_csv(grid_run.robustness_csv)) == 111
    assert sorted(p.name for p in grid_run.tables_dir.glob("robustness.rows-*.jsonl")) == [
        "robustness.rows-1-of-2.jsonl", "robustness.rows-2-of-2.jsonl"]  # both workers wrote rows
    # the workers received the whole run: its override is in every row, next to the profile
    assert (df["profile"] == "smoke").all() and (df["overrides"] == json.dumps(OVERRIDE)).all()
    for col in ("dataset", "classifier", "n", "seed", "params", "budget", "norm", "draws", "wall_s", "mode", "kind"):
        assert df[col].notna().all(), col
    # sample sizes and draws follow the profile
    costly = {label for label, g in GROUPS.items() if g.sample in ("costly", "blackbox")}  # smoke: n_blackbox None
    assert (df[df["attack"].isin(costly)]["n"] == SMOKE.samples.costly).all()
    assert (df[~df["attack"].isin(costly)]["n"] == SMOKE.samples.eval).all()
    assert (df[df["random_defense"]]["draws"] == SMOKE.samples.draws).all() and (df[~df["random_defense"]]["draws"] == 1).all()
    # what the evaluator found random is what the spec says: a QF range, and not the undefended model
    assert (df["random_defense"] == df["random_qf"].astype(bool)).all()
    assert set(df[df["random_defense"]]["defense"]) == {"jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1",
                                                        "dynamic-N3", "dynamic-N5"}
    spec_cols = {d.name: d.columns() for d in [defense_by_name(SMOKE, n) for n in set(df["defense"])]}
    for _, r in df.iterrows():
        want = spec_cols[r["defense"]]
        assert (r["mode"], r["n_iter"], r["roles"]) == (want["mode"], want["n_iter"], want["roles"]), r["defense"]
        assert r["kind"] == GROUPS[r["attack"]].kind and bool(r["ablation"]) == GROUPS[r["attack"]].ablation
    assert json.loads(df[df["attack"] == "eot-bpda-pgd"]["params"].iloc[0]) == {"eot": SMOKE.attacks["eot-bpda-pgd"]["eot"],
                                                                               "steps": SMOKE.attacks["eot-bpda-pgd"]["steps"]}


def test_smoke_grid_accuracies_are_the_measured_ones(smoke_table):
    df = smoke_table[0].set_index(["defense", "attack", "norm", "budget"])
    for key, (mean, worst) in PINNED.items():
        row = df.loc[key]
        assert row["accuracy"] == pytest.approx(mean, abs=1 / 16 + 1e-9), key
        assert row["worst_accuracy"] == pytest.approx(worst, abs=1 / 16 + 1e-9), key
    # the intervals are Wilson's at the row's own counts (k of n for one draw)
    r = df.loc[("static-N3", "clean", "linf", 0.0)]
    assert (r["worst_lo"], r["worst_hi"]) == pytest.approx(wilson_interval(round(r["worst_accuracy"] * 16), 16))


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
    assert not worst_below_mean(bad)["passed"] and "1 of 111 rows" in worst_below_mean(bad)["detail"]
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
    col = lines[0].index("passed")  # the report as a table: check, passed, detail
    passed = {ln[:col].strip(): ln[col:col + 6].strip() for ln in lines[1:]}
    for check in ("unbounded attack reaches ~0% (undefended)", "more steps never raise accuracy (undefended)",
                  "the defense is detected as random", "accuracy non-increasing in the budget"):
        assert passed[check] == "True", (check, passed)
    assert len(passed) >= 10 and set(passed.values()) <= {"True", "False"}
    assert rc == (0 if set(passed.values()) == {"True"} else 1)  # the exit code says whether every check passed
    monkeypatch.setenv("CNR_RESULTS", str(grid_run.results_root) + "-empty")
    assert cli.main(["sanity", "--profile", "smoke"]) == 2
    assert "no results in" in capsys.readouterr().err


def test_cli_attack_one_cell_and_unknown_names(capsys):
    assert cli.main(["attack", "--profile", "smoke", "--set", "draws=3", "--defense", "jpeg", "--attack", "pgd",
                     "--budget", "0.1", "--n-images", "8", "--param", "steps=2"]) == 0
    out = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in capsys.readouterr().out.splitlines()}
    assert out["n"] == "8" and out["draws"] == "3" and out["defense"] == "jpeg" and out["params"] == '{"steps": 2}'
    assert out["n_forward"] == str(1 + 3 * 8) and out["overrides"] == '{"samples.draws": 3}'
    assert float(out["accuracy"]) == pytest.approx(0.0, abs=1 / 8)  # BPDA PGD at Linf 0.1 breaks JPEG (pinned: 0/8)
    assert cli.main(["attack", "--profile", "smoke", "--defense", "magic"]) == 2
    assert "unknown defense 'magic'; valid defenses: dynamic-N1" in capsys.readouterr().err
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--attack", "nope", "--n-images", "4"]) == 2
    assert "pgd" in capsys.readouterr().err
    assert cli.main(["attack", "--profile", "smoke", "--defense", "none", "--param", "steps=x", "--n-images", "4"]) == 2
    assert "parameter 'steps': expected an integer" in capsys.readouterr().err


class _Scripted(torch.nn.Module):
    """A 'random model' whose prediction per draw is scripted: logits one-hot on preds[draw % len][i]."""

    is_random = True

    def __init__(self, preds: list[list[int]], classes: int = 4):
        super().__init__()
        self.preds, self.classes = preds, classes

    def forward(self, x: torch.Tensor, draw: int = 0) -> torch.Tensor:
        from cnr.eval.scoring import EVAL_DRAW_BASE

        p = torch.tensor(self.preds[(draw - EVAL_DRAW_BASE) % len(self.preds)])[: len(x)]
        return torch.nn.functional.one_hot(p, self.classes).float()


def test_majority_vote_counts_a_tie_with_the_true_class_as_fooled():
    from cnr.eval.scoring import majority_vote

    # image 0: 2 votes for class 1 (true), 2 for class 3 -> tie -> fooled, named class 3
    # image 1: 3 votes for 2 (true), 1 for 0 -> kept; image 2: 3 votes for 0, true 1 -> fooled
    model = _Scripted([[1, 2, 0], [3, 2, 0], [1, 2, 0], [3, 0, 1]])
    x, y = torch.zeros(3, 1, 2, 2), torch.tensor([1, 2, 1])
    labels, votes = majority_vote(model, x, 4, y)
    assert labels.tolist() == [3, 2, 0] and votes.tolist() == [2, 3, 3]
    labels, _ = majority_vote(model, x, 4)  # without labels: the plain plurality (lowest class on a tie)
    assert labels.tolist() == [1, 2, 0]

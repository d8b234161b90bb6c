"""cnr.grid: running cells into the row store (resume, shards, worker processes), the smoke grid's table, and the
paper profile's whole code path in miniature on Foolbox's ImageNet images."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from helpers import GRID_ATTACKS, SMOKE_GRID_OVERRIDE, SMOKE_PINNED, UNDEFENDED, pgd_spec

from cnr.cells.groups import GROUPS, build_grid
from cnr.cells.specs import SAMPLES, Cell
from cnr.data.foolbox_samples import foolbox_sample_files
from cnr.defenses import defense_by_name
from cnr.errors import InputError
from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import KEY_COLUMNS, read_rows
from cnr.grid import parse_shard, run_cells, run_grid
from cnr.profiles import PROFILES
from cnr.reporting import figures as F
from cnr.run import resolve_run
from cnr.stats import wilson_interval

TINY = {"data.classifier": "efficientnet-lite0", "bank.preset_natural": "quick-residual", "samples.eval": 3,
        "samples.costly": 2, "samples.draws": 2, "grid.linf_budgets": (4 / 255, 8 / 255),
        "grid.l2_budgets": (0.03, 0.05), "grid.ref_linf": 4 / 255, "grid.ref_l2": 0.03, "grid.ns": (1,),
        "grid.sweep_ns": (1,), "attacks.pgd.steps": 2, "attacks.square.n_queries": 4,
        "attacks.nattack.iterations": 1, "attacks.nattack.population": 4, "attacks.hsj.steps": 1,
        "attacks.hsj.initial_gradient_eval_steps": 4, "attacks.hsj.init_steps": 4, "attacks.cw.steps": 2,
        "attacks.cw.binary_steps": 1, "attacks.deepfool.steps": 2, "attacks.deepfool.candidates": 2,
        "attacks.autoattack_rand.n_iter": 1, "attacks.autoattack_rand.eot_iter": 1,
        **{f"attacks.{g}.{k}": v for g in ("eot-bpda-pgd", "eot-diffjpeg-pgd") for k, v in (("steps", 1), ("eot", 2))}}


@pytest.fixture
def imagenet_val(tmp_path, monkeypatch):
    """A flat ImageNet-val folder with a labels file: what a user points CNR_IMAGENET at."""
    folder = tmp_path / "val"
    folder.mkdir()
    lines = []
    for path, label in foolbox_sample_files("imagenet"):
        shutil.copy(path, folder / path.name)
        lines.append(f"{path.name} {label}")
    (folder / "labels.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("CNR_IMAGENET", str(folder))
    monkeypatch.delenv("CNR_IMAGENET_LABELS", raising=False)
    return folder


SMOKE = PROFILES["smoke"]


def test_paper_profile_code_path(imagenet_val, tmp_path):
    run = resolve_run("paper", TINY, results_root=tmp_path)
    ev = make_evaluator(run)
    # the protocol: correctly classified images, one per class, in dataset order (18 of the 20 are right)
    assert tuple(ev.x.shape) == (3, 3, 224, 224) and len(set(ev.y.tolist())) == 3
    df = run_grid(run, shard="1/2")
    assert set(df["dataset"]) == {"imagenet"} and set(df["classifier"]) == {"efficientnet-lite0"}
    assert (df["n"] <= 3).all() and {"linf", "l2"} <= set(df["norm"])
    clean = df[(df["attack"] == "clean") & (df["defense"] == "none")]
    if not clean.empty:
        assert clean["accuracy"].iloc[0] == 1.0  # the protocol keeps only images the classifier gets right
    assert (tmp_path / run.name / "tables" / "robustness.rows-1-of-2.jsonl").is_file()
    made = 0
    for build in (F.bpda_figure, F.blackbox_figure, F.minimal_perturbation_figure):
        try:
            build(df)
            made += 1
        except F.MissingRows:
            pass
    assert made >= 1


def test_imagenet_cpu_profile_smoke(tmp_path):
    """`make reproduce-imagenet` in miniature: Foolbox's ImageNet images first, then confident corpus crops."""
    from cnr.data.photo_corpus import split_photos

    if not all(Path(p.path).is_file() for p in split_photos("test")):
        pytest.skip("the photo corpus is not installed (make data)")
    tiny = {k: v for k, v in TINY.items() if k not in ("data.classifier", "grid.ns", "grid.sweep_ns")}
    over = {**tiny, "samples.eval": 20, "samples.costly": 2, "grid.linf_budgets": (4 / 255,), "grid.margin_linf": (),
            "grid.l2_budgets": (0.05,), "grid.ref_l2": 0.05, "grid.groups": ("clean", "bpda-pgd", "square")}
    run = resolve_run("imagenet", over, results_root=tmp_path)
    ev = make_evaluator(run)
    assert tuple(ev.x.shape[1:]) == (3, 224, 224) and len(ev.x) == 20  # 18 Foolbox images + 2 confident crops
    ev.sizes = dict.fromkeys(SAMPLES, 2)  # the protocol above on 20 images; the attacks on 2 of them
    from cnr.cells.groups import build_grid
    from cnr.grid import run_cells

    df = run_cells(ev, build_grid(run.profile), run.robustness_csv, shard=(2, 2))
    assert set(df["attack"]) <= set(run.profile.grid.groups) and set(df["classifier"]) == {"efficientnet-lite0"}
    assert df["defense"].isin(["none", "jpeg", "static-N3", "dynamic-N3", "dynamic-N3-qf40"]).all()


def test_resume_skips_finished_rows_and_a_torn_line_is_ignored(ev, tmp_path):
    from cnr.eval.rows import RowStoreWarning

    out = tmp_path / "t.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(b)) for b in (0.05, 0.1)]
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
            df2 = run_cells(ev, cells + [Cell(UNDEFENDED, pgd_spec(0.2))], out)
    finally:
        del ev.run_cell
    assert len(calls) == 1 and calls[0].attack.budget == 0.2  # only the unfinished cell ran
    assert len(df2) == 3 and not df2.duplicated(KEY_COLUMNS).any()
    assert len(read_rows(out)) == 3 and len(pd.read_csv(out)) == 3
    resumed = df2.set_index("budget").loc[[0.05, 0.1], "accuracy"].tolist()
    assert resumed == df.set_index("budget").loc[[0.05, 0.1], "accuracy"].tolist()  # the kept rows, unchanged


def test_shards_split_the_cells_and_merge_by_key(ev, tmp_path):
    out = tmp_path / "s.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(b)) for b in (0.05, 0.1, 0.2)]
    a = run_cells(ev, cells, out, shard=(1, 2))
    assert sorted(a["budget"]) == [0.05, 0.2]  # cells 1 and 3
    merged = run_cells(ev, cells, out, shard=(2, 2))
    assert sorted(merged["budget"]) == [0.05, 0.1, 0.2]
    assert sorted(p.name for p in tmp_path.glob("s.rows-*.jsonl")) == ["s.rows-1-of-2.jsonl", "s.rows-2-of-2.jsonl"]
    assert parse_shard("2/4") == (2, 4) and parse_shard(None) == (1, 1)
    assert parse_shard(" 2 / 4 ") == (2, 4)
    for bad in ("0/2", "3/2", "x", "1-2", "", " ", "１/2", "1.5/2", "1/2/3"):  # '' is not "no shard"
        with pytest.raises(InputError, match="shard"):
            parse_shard(bad)


def test_smoke_grid_writes_every_cell_with_its_setup(smoke_table):
    df, grid_run = smoke_table
    cells = len(build_grid(grid_run.profile))
    assert len(df) == cells and set(df["attack"]) == GRID_ATTACKS and not df.duplicated(KEY_COLUMNS).any()
    assert grid_run.name == "smoke+grid.workers=2" and grid_run.robustness_csv.is_file()
    assert len(pd.read_csv(grid_run.robustness_csv)) == cells
    assert sorted(p.name for p in grid_run.tables_dir.glob("robustness.rows-*.jsonl")) == [
        "robustness.rows-1-of-2.jsonl", "robustness.rows-2-of-2.jsonl"]  # both workers wrote rows
    # the workers received the whole run: its override is in every row, next to the profile
    assert (df["profile"] == "smoke").all() and (df["overrides"] == json.dumps(SMOKE_GRID_OVERRIDE)).all()
    for col in ("dataset", "classifier", "n", "seed", "params", "budget", "norm", "draws", "wall_s", "mode", "kind"):
        assert df[col].notna().all(), col
    # sample sizes and draws follow the profile
    costly = {label for label, g in GROUPS.items() if g.sample in ("costly", "blackbox")}  # smoke: n_blackbox None
    assert (df[df["attack"].isin(costly)]["n"] == SMOKE.samples.costly).all()
    assert (df[~df["attack"].isin(costly)]["n"] == SMOKE.samples.eval).all()
    assert (df[df["random_defense"]]["draws"] == SMOKE.samples.draws).all()
    assert (df[~df["random_defense"]]["draws"] == 1).all()
    # what the evaluator found random is what the spec says: a QF range, and not the undefended model
    assert (df["random_defense"] == df["random_qf"].astype(bool)).all()
    assert set(df[df["random_defense"]]["defense"]) == {"jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1",
                                                        "dynamic-N3", "dynamic-N5"}
    spec_cols = {d.name: d.columns() for d in [defense_by_name(SMOKE, n) for n in set(df["defense"])]}
    for _, r in df.iterrows():
        want = spec_cols[r["defense"]]
        assert (r["mode"], r["n_iter"], r["roles"]) == (want["mode"], want["n_iter"], want["roles"]), r["defense"]
        assert r["kind"] == GROUPS[r["attack"]].kind and bool(r["ablation"]) == GROUPS[r["attack"]].ablation
    eot = SMOKE.attacks["eot-bpda-pgd"]
    params = json.loads(df[df["attack"] == "eot-bpda-pgd"]["params"].iloc[0])
    assert params == {"eot": eot["eot"], "steps": eot["steps"]}


def test_smoke_grid_accuracies_are_the_measured_ones(smoke_table):
    df = smoke_table[0].set_index(["defense", "attack", "norm", "budget"])
    for key, (mean, worst) in SMOKE_PINNED.items():
        row = df.loc[key]
        assert row["accuracy"] == pytest.approx(mean, abs=1 / 16 + 1e-9), key
        assert row["worst_accuracy"] == pytest.approx(worst, abs=1 / 16 + 1e-9), key
    # the intervals are Wilson's at the row's own counts (k of n for one draw)
    r = df.loc[("static-N3", "clean", "linf", 0.0)]
    assert (r["worst_lo"], r["worst_hi"]) == pytest.approx(wilson_interval(round(r["worst_accuracy"] * 16), 16))


def _calls(ev, monkeypatch):
    """The cells the evaluator is asked to run."""
    calls = []
    real = ev.run_cell
    monkeypatch.setattr(ev, "run_cell", lambda c, *a, **k: calls.append(c) or real(c, *a, **k))
    return calls


def test_a_shard_adds_to_a_table_that_has_no_row_files(ev, tmp_path, monkeypatch):
    out = tmp_path / "c.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(b)) for b in (0.05, 0.1, 0.2)]
    first = run_cells(ev, cells[:2], out)
    for p in tmp_path.glob("c.rows-*.jsonl"):  # a committed table: the CSV and its outcomes, no row files
        p.unlink()
    calls = _calls(ev, monkeypatch)
    merged = run_cells(ev, cells, out, shard=(3, 3))
    assert [c.attack.budget for c in calls] == [0.2]
    assert sorted(merged["budget"]) == [0.05, 0.1, 0.2] and len(pd.read_csv(out)) == 3
    again = run_cells(ev, cells, out, shard=(1, 3))  # its cell is in the table: nothing runs, nothing is lost
    assert len(calls) == 1 and len(again) == 3
    kept = merged.set_index("budget").loc[[0.05, 0.1], "accuracy"].tolist()
    assert kept == first.set_index("budget").loc[[0.05, 0.1], "accuracy"].tolist()


def test_budgets_apart_past_four_decimals_are_two_keys(ev, tmp_path, monkeypatch):
    out = tmp_path / "b.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(b)) for b in (0.1, 0.10000001)]
    run_cells(ev, cells, out)
    for p in tmp_path.glob("b.rows-*.jsonl"):
        p.unlink()
    calls = _calls(ev, monkeypatch)
    df = run_cells(ev, cells, out)
    assert calls == [] and sorted(df["budget"]) == [0.1, 0.10000001]
    assert sorted(pd.read_csv(out)["budget"]) == [0.1, 0.10000001] and not df.duplicated(KEY_COLUMNS).any()


def test_a_four_decimal_table_counts_its_rounded_budgets_as_done(ev, tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(8 / 255))]
    run_cells(ev, cells, out)
    for p in tmp_path.glob("r.rows-*.jsonl"):
        p.unlink()
    old = pd.read_csv(out).assign(budget=0.0314)  # as a table of 4-decimal budgets stored it
    old.to_csv(out, index=False)
    Path(str(out) + ".meta.json").unlink()
    calls = _calls(ev, monkeypatch)
    assert len(run_cells(ev, cells, out)) == 1 and calls == []


def test_shards_merged_into_a_four_decimal_table_never_double_a_row(ev, tmp_path, monkeypatch):
    """Each shard merges every shard's rows when it ends, so the second merge meets rows the first one wrote into the
    4-decimal table: it replaces them, the table stays a 4-decimal one (the ensemble groups rows by budget), and a
    later run finds every cell done."""
    out = tmp_path / "m.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(b)) for b in (4 / 255, 8 / 255, 16 / 255)]
    run_cells(ev, cells[:1], out)
    for p in tmp_path.glob("m.rows-*.jsonl"):
        p.unlink()
    pd.read_csv(out).assign(budget=0.0157).to_csv(out, index=False)  # as a table of 4-decimal budgets stored it
    Path(str(out) + ".meta.json").unlink()
    run_cells(ev, cells, out, shard=(1, 2))
    df = run_cells(ev, cells, out, shard=(2, 2))
    assert len(df) == 3 and sorted(pd.read_csv(out)["budget"]) == [0.0157, 0.0314, 0.0627]  # one budget, one key
    calls = _calls(ev, monkeypatch)
    assert len(run_cells(ev, cells, out)) == 3 and calls == []


@pytest.mark.parametrize("blocker", ["outcomes", "r.rows-1-of-1.jsonl"])
def test_a_row_store_that_cannot_be_written_is_refused_before_any_cell(ev, tmp_path, monkeypatch, blocker):
    out = tmp_path / "r.csv"
    place = tmp_path / blocker
    place.mkdir() if blocker.endswith(".jsonl") else place.write_text("a file where the folder goes")
    calls = _calls(ev, monkeypatch)
    with pytest.raises(InputError, match=blocker.replace(".", r"\.")):
        run_cells(ev, [Cell(UNDEFENDED, pgd_spec(0.1))], out)
    assert calls == []


def test_a_row_file_without_write_permission_is_refused_before_any_cell(ev, tmp_path, monkeypatch):
    import os

    out = tmp_path / "p.csv"
    rows = tmp_path / "p.rows-1-of-1.jsonl"
    rows.write_text("")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == rows else real(p, mode))
    calls = _calls(ev, monkeypatch)
    with pytest.raises(InputError, match="p.rows-1-of-1.jsonl"):
        run_cells(ev, [Cell(UNDEFENDED, pgd_spec(0.1))], out)
    assert calls == []


def test_a_damaged_outcomes_file_recomputes_its_row_only(ev, tmp_path, monkeypatch):
    from cnr.eval.outcomes import OutcomesWarning, outcome_name, outcomes_dir

    out = tmp_path / "d.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(b)) for b in (0.05, 0.1)]
    run_cells(ev, cells, out)
    key = cells[1].key(ev.dataset, ev.classifier_name, ev.seed)
    (outcomes_dir(out) / outcome_name(key)).write_bytes(b"PK\x03\x04 not a zip")
    calls = _calls(ev, monkeypatch)
    with pytest.warns(OutcomesWarning, match=outcome_name(key)):
        df = run_cells(ev, cells, out)
    assert [c.attack.budget for c in calls] == [0.1] and len(df) == 2


def test_cli_shard_of_the_quick_grid_keeps_the_committed_table(tmp_path, monkeypatch):
    import subprocess
    import sys

    from cnr.paths import REPO_ROOT, RESULTS_DIR

    shutil.copytree(RESULTS_DIR / "quick" / "tables", tmp_path / "quick" / "tables")
    before = pd.read_csv(tmp_path / "quick" / "tables" / "robustness.csv")
    env = {**__import__("os").environ, "CNR_RESULTS": str(tmp_path), "TQDM_DISABLE": "1"}
    res = subprocess.run([sys.executable, "-m", "cnr", "grid", "--profile", "quick", "--shard", "1/151",
                          "--workers", "1"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    after = pd.read_csv(tmp_path / "quick" / "tables" / "robustness.csv")
    assert len(after) == len(before) == 151
    assert after[KEY_COLUMNS].equals(before[KEY_COLUMNS]) and after["accuracy"].equals(before["accuracy"])


def _with_row(out, **changes):
    """Append a copy of the row store's first row, changed, as another writer would have."""
    rows = sorted(out.parent.glob(f"{out.stem}.rows-*.jsonl"))[0]
    row = json.loads(rows.read_text().splitlines()[0])
    with open(rows, "a") as f:
        f.write(json.dumps({**row, **changes}) + "\n")


def test_rows_of_another_seed_in_the_table_are_refused(ev, tmp_path, monkeypatch):
    out = tmp_path / "m.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(0.1))]
    run_cells(ev, cells, out)
    _with_row(out, seed=ev.seed + 5)
    calls = _calls(ev, monkeypatch)
    with pytest.raises(InputError, match=rf"m\.csv.*seed {ev.seed + 5}.*--seed {ev.seed + 5}"):
        run_cells(ev, cells, out)
    assert calls == []


def test_a_row_of_a_defense_the_grid_never_runs_is_left_out(ev, tmp_path):
    out = tmp_path / "x.csv"
    cells = [Cell(UNDEFENDED, pgd_spec(0.1))]
    run_cells(ev, cells, out)
    _with_row(out, defense="static-N99", mode="static")
    with pytest.warns(UserWarning, match="static-N99"):
        df = run_cells(ev, cells, out)
    assert list(df["defense"]) == ["none"] and list(pd.read_csv(out)["defense"]) == ["none"]


def test_derived_tables_carry_the_runs_identity(smoke_table):
    df, grid_run = smoke_table
    for name in ("ensemble", "paired"):
        table = pd.read_csv(grid_run.tables_dir / f"{name}.csv")
        assert list(table.columns[:3]) == ["profile", "overrides", "seed"], name
        assert set(table["profile"]) == {"smoke"} and set(table["seed"]) == {grid_run.seed}
        assert set(table["overrides"]) == {grid_run.describe()["overrides"]}

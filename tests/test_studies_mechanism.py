"""The mechanism measurements on 8 Fashion-MNIST test images with the quick bank: columns, checks, seeding, errors."""
from __future__ import annotations

import shutil

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import torch

from cnr import mechanism_study
from cnr.argan.bank import RestorerBank
from cnr.classifiers import load_classifier
from cnr.data import load_dataset
from cnr.errors import InputError
from cnr.eval.rows import TableError
from cnr.eval.scoring import EVAL_DRAW_BASE
from cnr.paths import WEIGHTS_DIR
from cnr.reporting.mechanism_figures import FIGURES, save_mechanism_figures
from cnr.studies import mechanism as mech

BANK = WEIGHTS_DIR / "argan-fmnist-quick"
VALUES = ["metric", "value", "lo", "hi", "interval"]


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    bank = RestorerBank.load(BANK, dataset="fmnist")
    x, y = load_dataset("fmnist", limit=8)
    return bank, load_classifier("fmnist-cnn"), x, y


@pytest.fixture(scope="module")
def defenses(setup):
    return mech.standard_defenses(setup[0], (20, 60), (1, 3), include_none=True)


@pytest.fixture(scope="module")
def tables(setup, defenses):
    bank, clf, x, y = setup
    eot_set = {k: defenses[k] for k in ("none", "jpeg", "dynamic-N3")}
    return dict(gradient_cosine=mech.gradient_cosine(defenses, clf, x, y, draws=3),
                eot_alignment=mech.eot_alignment(eot_set, clf, x, y, ks=(1, 4, 16), reference=16),
                generator_divergence=mech.generator_divergence(bank, x, input_qfs=(20, 40)),
                smoothing=mech.smoothing(defenses, clf, x, y, sizes=(("linf", 0.05),), draws=2, pgd_steps=3))


def test_standard_defenses_are_the_grids(setup):
    ds = mech.standard_defenses(setup[0], (20, 60), (1, 3, 5))
    assert list(ds) == ["jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3", "dynamic-N5"]
    assert all(d.grad == "bpda" and d.qf_range == (20, 60) for d in ds.values())
    assert ds["dynamic-N5"].n_iter == 5 and ds["static-N3"].mode == "static"


def test_every_table_has_the_documented_columns(tables):
    keys = dict(gradient_cosine=[], eot_alignment=["k"], generator_divergence=["input_qf", "a", "b"],
                smoothing=["delta", "norm", "size"])
    for name, df in tables.items():
        assert list(df.columns) == mech.SETUP_COLUMNS + keys[name] + VALUES, name
        assert (df["n_images"] == 8).all() and (df["seed"] == 0).all()
        assert (df["lo"] <= df["value"] + 1e-12).all() and (df["value"] <= df["hi"] + 1e-12).all(), name


def test_same_draw_cosine_is_one_and_cross_draw_is_not(tables):
    df = tables["gradient_cosine"].set_index(["defense", "metric"])["value"]
    for name in ("none", "jpeg", "static-N1", "static-N3", "dynamic-N1", "dynamic-N3"):
        assert df[name, "same-draw"] == pytest.approx(1, abs=1e-5)
    for name in ("jpeg", "static-N3", "dynamic-N3"):  # random defenses: two draws disagree
        assert df[name, "cross-draw"] < 0.95
    assert df["none", "cross-draw"] == pytest.approx(1, abs=1e-5)
    for n in (1, 3):  # the contrast, paired per image: the mean difference is the difference of the means
        diff = df[f"dynamic-N{n} - static-N{n}", "cross-draw-diff"]
        assert diff == pytest.approx(df[f"dynamic-N{n}", "cross-draw"] - df[f"static-N{n}", "cross-draw"], abs=1e-9)
    rows = tables["gradient_cosine"][tables["gradient_cosine"]["metric"] == "cross-draw-diff"]
    assert len(rows) == 2 and (rows["mode"] == "dynamic - static").all() and (rows["hi"] - rows["lo"] > 0).all()


def test_one_fixed_qf_leaves_no_randomness(setup):
    bank, clf, x, y = setup
    ds = mech.standard_defenses(bank, (40, 40), (1, 3))
    df = mech.gradient_cosine(ds, clf, x, y, draws=2)
    cross = df[df["metric"] == "cross-draw"]
    assert len(cross) == 5 and (cross["value"] - 1).abs().max() < 1e-5 and (cross["lo"] - 1).abs().max() < 1e-5


def test_eot_alignment_rises_with_k(tables):
    df = tables["eot_alignment"]
    for name in ("jpeg", "dynamic-N3"):
        r = df[df["defense"] == name].set_index("k")["value"]
        assert list(r.index) == [1, 4, 16] and r[16] > r[1] + 0.05
    assert (df[df["defense"] == "none"]["value"] - 1).abs().max() < 1e-5  # deterministic: EOT has nothing to average


def test_generator_divergence_matrix(tables):
    df = tables["generator_divergence"]
    names = {"clean", "jpeg", "qf05", "qf10", "qf20", "qf30", "qf40", "qf60", "static"}
    assert set(df["a"]) == names and len(df) == 2 * len(names) ** 2
    assert df[df["a"] == df["b"]]["value"].abs().max() == 0
    m = df[df["input_qf"] == 20].pivot(index="a", columns="b", values="value")
    assert (m - m.T).abs().max().max() < 1e-12
    assert m.loc["jpeg", "clean"] > 0.01 and m.loc["qf05", "qf60"] > 0.005


def test_smoothing_of_the_identity_is_one(tables):
    df = tables["smoothing"]
    none = df[df["defense"] == "none"].set_index(["delta", "metric"])["value"]
    assert none["gaussian", "ratio"] == pytest.approx(1, abs=1e-5)
    assert none["pgd", "ratio"] == pytest.approx(1, abs=1e-5)
    flips = df[df["metric"] == "flip"]["value"]
    assert flips.between(0, 1).all() and none["pgd", "flip"] > none["gaussian", "flip"]


def test_same_seed_same_numbers(setup, defenses):
    bank, clf, x, y = setup
    ds = {"jpeg": defenses["jpeg"]}
    a, b = (mech.smoothing(ds, clf, x, y, sizes=(("l2", 0.1),), kinds=("gaussian",), seed=3) for _ in range(2))
    assert a.equals(b)
    c, d = (mech.gradient_cosine(ds, clf, x, y, draws=2, seed=s) for s in (1, 2))
    assert c.equals(mech.gradient_cosine(ds, clf, x, y, draws=2, seed=1)) and not c["value"].equals(d["value"])
    assert mech.measurement_draws(0, 3)[0] > EVAL_DRAW_BASE + 10**6
    assert set(mech.measurement_draws(1, 64)).isdisjoint(mech.measurement_draws(0, 64, offset=32))


def test_inputs_are_checked(setup, defenses):
    bank, clf, x, y = setup
    ds = {"jpeg": defenses["jpeg"]}
    with pytest.raises(InputError, match="draws"):
        mech.gradient_cosine(ds, clf, x, y, draws=1)
    with pytest.raises(InputError, match="empty"):
        mech.gradient_cosine(ds, clf, x[:0], y[:0])
    with pytest.raises(InputError, match="reference"):
        mech.eot_alignment(ds, clf, x, y, ks=(1, 8), reference=4)
    with pytest.raises(InputError, match="kind"):
        mech.smoothing(ds, clf, x, y, kinds=("uniform",))
    with pytest.raises(InputError, match="defenses"):
        mech.gradient_cosine({}, clf, x, y)
    with pytest.raises(InputError, match="labels"):
        mech.gradient_cosine(ds, clf, x, y[:3])
    with pytest.raises(InputError, match="bank"):
        mech.generator_divergence(None, x)


def test_figures_are_written_and_drawn(tables, tmp_path):
    import matplotlib.pyplot as plt

    for key, table in tables.items():  # every figure shows data, not just empty axes
        fig = FIGURES[key](table)
        points = sum(len(line.get_xdata()) for ax in fig.axes for line in ax.lines)
        points += sum(len(ax.images) for ax in fig.axes)
        assert points > 0, key
        plt.close(fig)
    paths = save_mechanism_figures(tables, tmp_path)
    assert len(paths) == 8 and all(p.is_file() and p.stat().st_size > 0 and tmp_path in p.parents for p in paths)


def test_run_mechanism_writes_every_measurement_and_reads_it_back(tmp_path):
    """The study's entry point: the run's own bank and images, four tables and figures, and no recomputation (nor
    overwrite) when the tables are there."""
    from cnr.run import resolve_run

    over = {"mechanism_n": 4, "mechanism_ns": (1,), "mechanism_draws": 2, "mechanism_reference": 2}
    run = resolve_run("smoke", over, results_root=tmp_path)
    tables = mechanism_study.run_mechanism(run)
    assert list(tables) == list(mech.MEASUREMENTS)
    paths = [run.mechanism_dir / "tables" / f"mechanism_{m}.csv" for m in mech.MEASUREMENTS]
    assert all(p.is_file() for p in paths)
    assert all((run.mechanism_dir / "figures" / f"mechanism_{m}.png").is_file() for m in mech.MEASUREMENTS)
    assert set(tables["gradient_cosine"]["defense"]) == {"jpeg", "static-N1", "dynamic-N1", "dynamic-N1 - static-N1"}
    assert (tables["gradient_cosine"]["n_images"] == 4).all()
    stamps = [p.stat().st_mtime_ns for p in paths]
    again = mechanism_study.run_mechanism(run)
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    values = tables["eot_alignment"]["value"].tolist()
    assert again["eot_alignment"]["value"].tolist() == pytest.approx(values, abs=5e-5)  # the CSV keeps 4 decimals
    from cnr.errors import InputError as Err

    with pytest.raises(Err, match=r"mechanism\.draws\b.*\b1$"):
        resolve_run("smoke", {"mechanism_draws": 1})


def test_run_mechanism_resumes_measurement_by_measurement_and_never_mixes_setups(tmp_path):
    """A run killed after some measurements keeps them: the next one measures only what is missing; tables of another
    setup, or of none recorded, are refused, not mixed in; a damaged one says how to remake it."""
    from cnr.run import resolve_run

    over = {"mechanism_n": 4, "mechanism_ns": (1,), "mechanism_draws": 2, "mechanism_reference": 2}
    run = resolve_run("smoke", over, results_root=tmp_path)
    first = mechanism_study.run_mechanism(run)
    tables_dir = run.mechanism_dir / "tables"
    (tables_dir / "mechanism_smoothing.csv").unlink()  # as if the run had stopped before its last measurement
    kept = {m: (tables_dir / f"mechanism_{m}.csv").stat().st_mtime_ns for m in mech.MEASUREMENTS[:3]}
    again = mechanism_study.run_mechanism(run)
    assert {m: (tables_dir / f"mechanism_{m}.csv").stat().st_mtime_ns for m in kept} == kept
    assert (tables_dir / "mechanism_smoothing.csv").is_file()
    assert again["smoothing"]["value"].tolist() == pytest.approx(first["smoothing"]["value"].tolist(), abs=5e-5)
    wall = pd.read_csv(tables_dir / "mechanism_wall.csv")
    assert wall["measurement"].tolist() == list(mech.MEASUREMENTS)

    # tables of another setup (as after a change of the profile's defaults) in this run's folder: refused, named
    other = resolve_run("smoke", {**over, "mechanism_n": 6, "mechanism_draws": 3}, results_root=tmp_path)
    shutil.copytree(tables_dir, other.mechanism_dir / "tables")
    with pytest.raises(InputError, match=r"n_images=4, draws=2; this run asks for n_images=6, draws=3"):
        mechanism_study.run_mechanism(other)  # the complete set
    (other.mechanism_dir / "tables" / "mechanism_smoothing.csv").unlink()
    with pytest.raises(InputError, match=r"n_images=4, draws=2; this run asks for n_images=6, draws=3"):
        mechanism_study.run_mechanism(other)  # a partial set
    assert not (other.mechanism_dir / "tables" / "mechanism_smoothing.csv").exists()
    (other.mechanism_dir / "tables" / mechanism_study.SETUP_FILE).unlink()
    with pytest.raises(InputError, match="no mechanism_setup.json saying how they were made"):
        mechanism_study.run_mechanism(other)
    (tables_dir / "mechanism_eot_alignment.csv").write_text("defense,metric,value\njpeg,alig")  # cut mid-row
    with pytest.raises(TableError, match="delete it and rerun: the other measurements resume"):
        mechanism_study.run_mechanism(run)


def test_bootstrap_mean_says_when_it_leaves_values_out():
    """A NaN (a cosine with an all-zero gradient) is left out of the mean, and the kit says so."""
    with pytest.warns(RuntimeWarning, match="1 of 3 values are undefined"):
        mean, lo, hi = mech.bootstrap_mean(torch.tensor([0.2, float("nan"), 0.4], dtype=torch.float64), seed=0)
    assert mean == pytest.approx(0.3) and 0.2 <= lo <= mean <= hi <= 0.4

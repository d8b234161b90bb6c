"""The paper profile's whole code path on this machine, in miniature: the ImageNet protocol on an ImageNet-val
folder (Foolbox's 20 ImageNet images), the natural bank found by the run object, an ImageNet classifier at 224 px
(efficientnet-lite0 standing in for the paper's ResNet-50, whose weights need a download), normalized-L2 and Linf
budgets, a grid shard written under tmp_path, and the figures drawn from that shard's table."""
from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from cnr.cells.specs import SAMPLES  # noqa: E402
from cnr.data.foolbox_samples import foolbox_sample_files  # noqa: E402
from cnr.eval.evaluator import make_evaluator  # noqa: E402
from cnr.grid import run_grid  # noqa: E402
from cnr.reporting import figures as F  # noqa: E402
from cnr.run import resolve_run  # noqa: E402

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


def test_paper_run_resolves_the_natural_bank(tmp_path):
    run = resolve_run("paper", {"bank.preset_natural": "quick-residual"}, results_root=tmp_path)
    assert run.profile.data.dataset == "imagenet" and run.device == "cpu"
    assert run.bank_dir("natural").name == "argan-natural-quick-residual" and run.bank_dir("natural").is_dir()
    assert run.out_dir == tmp_path / "paper+bank.preset_natural=quick-residual"
    # the older name is the same setting, stored by its path: the same run
    assert resolve_run("paper", {"argan_preset_natural": "quick-residual"}, results_root=tmp_path) == run


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
    over = {**tiny, "samples.eval": 20, "samples.costly": 2, "grid.linf_budgets": (4 / 255,),
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


def test_imagenet_profile_is_the_measured_cut():
    """What the 45-minute cut keeps (profile comment): BPDA-PGD on all 8 budgets for the four defenses, EOT and
    generalized BPDA at the reference budgets, Square (Linf) and HopSkipJump (L2) on 10 images, no fixed-QF defense;
    `cnr reproduce` runs only the grid and figure notebooks (the tour is the quick run's, already ImageNet)."""
    from collections import Counter

    from cnr.cells.groups import build_grid
    from cnr.reproduce import notebooks

    p = resolve_run("imagenet").profile
    cells = build_grid(p)
    per = Counter((c.attack.label, c.defense.name) for c in cells)
    defenses = ("none", "jpeg", "static-N3", "dynamic-N3")
    assert {d for _, d in per} == set(defenses)
    assert all(per["bpda-pgd", d] == 8 for d in defenses)
    assert all(per["eot-bpda-pgd", d] == 2 and per["generalized-bpda-pgd", d] == 2 for d in defenses[1:])
    assert {(c.attack.norm, c.attack.budget) for c in cells if c.attack.label == "square"} == {("linf", 4 / 255)}
    assert {(c.attack.norm, c.attack.budget) for c in cells if c.attack.label == "hsj"} == {("l2", 0.05)}
    assert p.sample_sizes() == {"eval": 50, "costly": 50, "blackbox": 10}
    assert [b.name for b in notebooks(only=p.notebooks)] == ["03_attacks.ipynb", "04_figures.ipynb"]
    assert len(notebooks()) == 6


@pytest.mark.parametrize("setting, value, message", [
    ("grid.square_norms", ("l1",), r"grid\.square_norms.*'l1'"),
    ("grid.square_norms", ("l2", "l2"), r"grid\.square_norms.*'l2' more than once"),
    ("notebooks", ("07",), r"notebooks.*'07'"),
    ("samples.blackbox", 0, r"samples\.blackbox.*got 0"),
    ("n_blackbox", 0, r"samples\.blackbox.*got 0"),  # the older name reports the path
])
def test_imagenet_profile_fields_refuse_nonsense(setting, value, message):
    from cnr.errors import InputError

    with pytest.raises(InputError, match=message):
        resolve_run("imagenet", {setting: value})


def test_no_fixed_qf_means_no_fixed_qf_defense():
    from cnr.defenses.registry import grid_defenses

    names = {d.name for d in grid_defenses(resolve_run("quick", {"fixed_qf": None}).profile)}
    assert "dynamic-N3" in names and not any("-qf" in n for n in names)
    assert "dynamic-N3-qf40" in {d.name for d in grid_defenses(resolve_run("quick").profile)}

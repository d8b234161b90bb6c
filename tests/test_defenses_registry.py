"""cnr.defenses.registry: the grid's defenses of a profile, specs that build their modules, names outside the grid
through a defense's own variant parser, and a toy defense and attack registered at run time that reach the grid,
the summary table, a figure and the sanity report."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import toy_bank
from torch import nn

from cnr.analysis.sanity import sanity_report
from cnr.argan import RestorerBank
from cnr.attacks import ATTACKS, AttackDef, register_attack
from cnr.cells.groups import CellGroup, build_grid, register_group, select, unregister_group
from cnr.data import load_fmnist
from cnr.defenses import (
    BUILDERS,
    FAMILIES,
    VARIANTS,
    CompressRestore,
    DefenseSpec,
    defense_by_name,
    grid_defenses,
    register_defense,
    unregister_defense,
)
from cnr.errors import InputError
from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import read_rows
from cnr.grid import run_cells
from cnr.profiles import PROFILES
from cnr.reporting.figures import blackbox_figure
from cnr.reporting.tables import summary_table
from cnr.run import resolve_run


def blur_variant(name: str, profile) -> DefenseSpec | None:
    """'blur-<k>': a k x k blur."""
    size = name.removeprefix("blur-")
    return DefenseSpec(name, "blur", "blur", int(size)) if name.startswith("blur-") and size.isdigit() else None


def test_a_registered_variant_parser_builds_names_outside_the_grid():
    smoke = PROFILES["smoke"]
    register_defense("blur", lambda spec, bank, grad, seed: None, variant=blur_variant)
    try:
        assert defense_by_name(smoke, "blur-5") == DefenseSpec("blur-5", "blur", "blur", 5)
        assert defense_by_name(smoke, "static-N7").n_iter == 7  # the compress-restore parser still answers its names
        with pytest.raises(InputError, match="unknown defense 'blur-x'"):
            defense_by_name(smoke, "blur-x")
    finally:
        unregister_defense("blur")
    assert "blur" not in VARIANTS
    with pytest.raises(InputError, match="unknown defense 'blur-5'"):
        defense_by_name(smoke, "blur-5")


class Blur(nn.Module):
    """A defense that is not compress-and-restore: a 3x3 box blur."""

    is_random = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def sign_noise(model, x, y, eps, norm, *, seed, **_):
    """A black-box attack: one random sign perturbation at the full budget."""
    x_adv = (x + eps.view(-1, 1, 1, 1) * torch.randn_like(x).sign()).clamp(0, 1)
    with torch.no_grad():
        return x_adv, model(x_adv).argmax(1) != y, {}


@pytest.fixture
def toys():
    register_defense("toy-blur", lambda spec, bank, grad, seed: Blur(),
                     lambda p: [DefenseSpec("toy-blur", "toy-blur", "blur", 1, None, frozenset({"main"}))])
    register_attack("toy-noise", AttackDef(sign_noise, {}, kind="black-box"))
    register_group(CellGroup("toy-noise", "toy-noise", "black-box", lambda p: [("linf", p.grid.ref_linf)],
                             select(("main",))))
    yield
    unregister_defense("toy-blur")
    unregister_group("toy-noise")
    ATTACKS.pop("toy-noise")


@pytest.fixture(scope="module")
def bank() -> RestorerBank:
    return toy_bank()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_fmnist("test", limit=12)[0]


@pytest.fixture()
def toy_defense():
    """A registered toy: a 3x3 blur, in the grid as 'blur' with the ablation role."""
    def build(spec, bank, grad, seed):
        blur = nn.Conv2d(1, 1, 3, padding=1, bias=False, padding_mode="replicate")
        nn.init.constant_(blur.weight, 1 / 9)
        return blur.requires_grad_(False)

    register_defense("blur", build, lambda p: [DefenseSpec("blur", "blur", "blur", 1, None, frozenset({"main"}))])
    yield
    unregister_defense("blur")


def test_no_fixed_qf_means_no_fixed_qf_defense():
    from cnr.defenses.registry import grid_defenses

    names = {d.name for d in grid_defenses(resolve_run("quick", {"fixed_qf": None}).profile)}
    assert "dynamic-N3" in names and not any("-qf" in n for n in names)
    assert "dynamic-N3-qf40" in {d.name for d in grid_defenses(resolve_run("quick").profile)}


def test_toy_defense_and_attack_appear_everywhere(toys, tmp_path):
    run = resolve_run("smoke", {"samples.eval": 8, "samples.costly": 8}, results_root=tmp_path)
    grid = build_grid(run.profile)
    assert any(c.defense.name == "toy-blur" for c in grid) and any(c.attack.label == "toy-noise" for c in grid)
    cells = [c for c in grid if c.attack.label in ("clean", "toy-noise")
             or (c.attack.label == "bpda-pgd" and c.defense.name in ("none", "toy-blur"))]
    run_cells(make_evaluator(run), cells, run.robustness_csv)
    df = read_rows(run.robustness_csv)
    toy = df[df["defense"] == "toy-blur"].set_index("attack")
    assert toy.loc["clean", "mode"] == "blur" and toy.loc["clean", "n_iter"] == 1
    assert toy.loc["toy-noise", "kind"] == "black-box"
    # the blur changes predictions on some images but not most: clean accuracy drops yet stays well above chance
    none_clean = df[(df["defense"] == "none") & (df["attack"] == "clean")]["accuracy"].iloc[0]
    assert 0.3 <= toy.loc["clean", "accuracy"] <= none_clean
    summary = summary_table(df)
    assert "toy-blur" in summary.columns and "toy-noise" in set(summary["attack"])
    fig = blackbox_figure(df)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "toy-blur" in labels and any("toy-noise" in t for t in legend)
    report = sanity_report(df)
    assert any("toy-noise" in c for c in report["check"]), report["check"].tolist()


def test_duplicate_defense_names_are_refused(toys):
    register_defense("toy-dup", lambda spec, bank, grad, seed: Blur(),
                     lambda p: [DefenseSpec("toy-blur", "toy-dup", "blur", 1)])
    try:
        from cnr.errors import InputError

        with pytest.raises(InputError, match="toy-blur"):
            build_grid(resolve_run("smoke").profile)
    finally:
        unregister_defense("toy-dup")


def test_grid_defenses_of_a_profile_with_roles_and_columns():
    specs = {d.name: d for d in grid_defenses(PROFILES["smoke"])}
    assert list(specs) == ["none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3",
                           "dynamic-N5", "dynamic-N3-qf40"]
    assert specs["dynamic-N3"].roles == {"main"} and specs["static-N5"].roles == {"ablation", "n-sweep"}
    assert specs["dynamic-N3-qf40"].qf_range == (40, 40) and specs["dynamic-N3-qf40"].roles == {"ablation", "fixed-qf"}
    assert specs["static-N3"].columns() == dict(defense="static-N3", mode="static", n_iter=3, qf_lo=20, qf_hi=60,
                                                random_qf=True, roles="main")
    assert specs["none"].columns() == dict(defense="none", mode="none", n_iter=0, qf_lo=None, qf_hi=None,
                                           random_qf=False, roles="main")
    assert specs["dynamic-N3-qf40"].columns()["random_qf"] is False
    assert [d.needs_bank for d in specs.values()] == [False, False] + [True] * 7
    full = {d.name for d in grid_defenses(PROFILES["full"])}
    assert "dynamic-N1" in full and {d.name for d in grid_defenses(PROFILES["full"]) if "main" in d.roles} >= {
        "dynamic-N1", "dynamic-N3", "dynamic-N5"}  # full sweeps every N


def test_specs_build_the_modules_they_describe(bank, images):
    specs = {d.name: d for d in grid_defenses(PROFILES["smoke"])}
    assert specs["none"].build(bank) is None
    d = specs["static-N5"].build(bank, grad="surrogate", seed=3)
    assert isinstance(d, CompressRestore) and (d.mode, d.n_iter, d.qf_range, d.grad, d.seed) == (
        "static", 5, (20, 60), "surrogate", 3)
    jpeg = specs["jpeg"].build(bank)
    assert jpeg.bank is None and jpeg.mode == "jpeg"
    with pytest.raises(InputError, match="unknown defense builder 'nope'"):
        DefenseSpec("x", "nope").build(bank)


def test_defense_by_name_builds_variants_and_names_the_valid_ones():
    p = PROFILES["smoke"]
    assert defense_by_name(p, "dynamic-N3") == next(d for d in grid_defenses(p) if d.name == "dynamic-N3")
    v = defense_by_name(p, "static-N4")
    assert (v.mode, v.n_iter, v.qf_range, v.builder) == ("static", 4, (20, 60), "compress-restore")
    for bad in ("magic", "static-N0", "dynamic-Nx"):
        with pytest.raises(InputError, match=f"'{bad}'.*dynamic-N1"):
            defense_by_name(p, bad)


def test_a_registered_defense_joins_every_grid(toy_defense, images):
    from cnr.cells.groups import build_grid

    spec = defense_by_name(PROFILES["smoke"], "blur")
    assert spec.columns()["mode"] == "blur" and not spec.needs_bank
    out = spec.build(None)(images)
    assert out.shape == images.shape and not torch.equal(out, images)
    labels = {c.attack.label for c in build_grid(PROFILES["smoke"]) if c.defense.name == "blur"}
    assert {"clean", "bpda-pgd", "oblivious-pgd", "square", "cw"} <= labels
    unregister_defense("blur")
    assert "blur" not in BUILDERS and "blur" not in FAMILIES
    assert all(c.defense.name != "blur" for c in build_grid(PROFILES["smoke"]))


def test_defense_names_must_be_unique_and_builders_callable():
    register_defense("twin", lambda *a: None, lambda p: [DefenseSpec("jpeg", "twin")])
    try:
        with pytest.raises(InputError, match="share the name\\(s\\) jpeg"):
            grid_defenses(PROFILES["smoke"])
    finally:
        unregister_defense("twin")
    assert len(grid_defenses(PROFILES["smoke"])) == 9
    with pytest.raises(InputError, match="must be callable"):
        register_defense("broken", "not a function")

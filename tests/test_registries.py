"""Adding a defense or an attack is one registration each: a toy of each, registered at run time, shows up in the
grid, the summary table, a figure and the sanity report, with its settings as columns."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnr.analysis.sanity import sanity_report  # noqa: E402
from cnr.attacks import ATTACKS, AttackDef, register_attack  # noqa: E402
from cnr.cells.groups import CellGroup, build_grid, register_group, select, unregister_group  # noqa: E402
from cnr.defenses import DefenseSpec, register_defense, unregister_defense  # noqa: E402
from cnr.eval.evaluator import make_evaluator  # noqa: E402
from cnr.eval.rows import read_rows  # noqa: E402
from cnr.grid import run_cells  # noqa: E402
from cnr.reporting.figures import blackbox_figure  # noqa: E402
from cnr.reporting.tables import summary_table  # noqa: E402
from cnr.run import resolve_run  # noqa: E402


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


def test_groups_check_kind_and_view():
    from cnr.errors import InputError

    with pytest.raises(InputError, match="kind"):
        register_group(CellGroup("bad", "pgd", "grey-box", lambda p: [], select(("main",))))
    with pytest.raises(InputError, match="view"):
        register_group(CellGroup("bad", "pgd", "adaptive", lambda p: [], select(("main",)), view="x"))


def test_study_attacks_are_opt_in_and_run():
    """The attacks aimed at the dynamic bank run only where a profile names them, and each gives a row."""
    quick = {c.attack.label for c in build_grid(resolve_run("quick").profile)}
    study = {c.attack.label for c in build_grid(resolve_run("study").profile)}
    new = {"expected-bpda-pgd", "transfer-static-pgd", "eot-strong-bpda-pgd", "margin-bpda-pgd"}
    assert new <= study and not new & quick
    run = resolve_run("smoke", {"groups": tuple(new), "eot_samples_strong": 2, "n_eval": 4, "n_costly": 4})
    ev = make_evaluator(run)
    cells = [c for c in build_grid(run.profile) if c.defense.name == "dynamic-N3" and c.attack.norm == "linf"]
    rows = [ev.run_cell(c) for c in cells]
    assert {r["attack"] for r in rows} == new and all(r["n_backward"] > 0 for r in rows)
    transfer = next(r for r in rows if r["attack"] == "transfer-static-pgd")
    assert transfer["view"] == "transfer-static" and transfer["random_defense"]

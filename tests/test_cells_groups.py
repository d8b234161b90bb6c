"""cnr.cells.groups: the grid's cells from a profile, and groups registered at run time."""
from __future__ import annotations

import pytest
from helpers import GRID_ATTACKS, mentions, run_cli

from cnr.cells.groups import GROUPS, CellGroup, build_grid, refs, register_group, select, unregister_group
from cnr.errors import InputError
from cnr.eval.evaluator import make_evaluator
from cnr.profiles import PROFILES
from cnr.run import resolve_run

SMOKE = PROFILES["smoke"]


@pytest.mark.usefixtures("scratch_results")
def test_unknown_cell_group_is_refused_by_the_parent(capsys, tmp_path):
    code, text = run_cli(capsys, "grid", "--set", "grid.groups=('nope',)")
    assert code == 2 and mentions(text, ("cell group", "nope", "clean, bpda-pgd")), text
    assert "workers exited" not in text and not (tmp_path / "results").exists()


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


def test_grid_covers_every_attack_and_defense():
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
    ablation = {c.defense.name for c in build_grid(p)
                if c.attack.label == "bpda-pgd" and c.attack.budget == p.grid.ref_linf}
    assert ablation == {"none", "jpeg", "static-N1", "static-N3", "static-N5", "dynamic-N1", "dynamic-N3",
                        "dynamic-N5", "dynamic-N3-qf40"}  # the ablation defenses only at the reference budgets
    assert {c.defense.name for c in build_grid(p) if c.attack.label == "bpda-pgd" and c.attack.budget == 0.3} == {
        "none", "jpeg", "static-N3", "dynamic-N3"}


def test_a_registered_group_joins_the_grid():
    before = len(build_grid(SMOKE))
    group = CellGroup("fgsm-ref", "fgsm", "white-box", refs, select(("main",)))
    register_group(group)
    try:
        cells = [c for c in build_grid(SMOKE) if c.attack.label == "fgsm-ref"]
        assert {(c.attack.norm, c.attack.budget) for c in cells} == {("linf", 0.1), ("l2", 0.2)}
        assert {c.defense.name for c in cells} == {"none", "jpeg", "static-N3", "dynamic-N3"}
    finally:
        unregister_group("fgsm-ref")
    assert "fgsm-ref" not in GROUPS and len(build_grid(SMOKE)) == before
    with pytest.raises(InputError, match="cell group 'x'.*kind.*'grey-box'"):
        register_group(CellGroup("x", "fgsm", "grey-box", refs, select(("main",))))
    with pytest.raises(InputError, match="cell group 'x'.*view.*'exact'"):
        register_group(CellGroup("x", "fgsm", "white-box", refs, select(("main",)), view="exact"))
    with pytest.raises(InputError, match="cell group 'x'.*sample.*'big'"):
        register_group(CellGroup("x", "fgsm", "white-box", refs, select(("main",)), sample="big"))


def test_the_conclusive_profile_runs_the_papers_settings_and_can_judge_every_attack_it_runs():
    """Every query or minimal attack of the conclusive grid meets, on the bare model, a white-box PGD cell of its
    budget (or is unbounded), so the kit's rule can tell whether it is conclusive; its efforts are the paper's."""
    from cnr.config.profiles import PAPER_ATTACKS

    p = resolve_run("conclusive").profile
    cells = [c for c in build_grid(p) if c.defense.name == "none"]
    white = {(c.attack.norm, c.attack.budget) for c in cells if c.attack.kind == "adaptive"}
    judged = [c for c in cells if c.attack.kind in ("black-box", "minimal")]
    assert {c.attack.label for c in judged} == {"cw", "deepfool", "square", "nattack", "hsj"}
    assert all(c.attack.budget == float("inf") or (c.attack.norm, c.attack.budget) in white for c in judged)
    params = {c.attack.label: dict(c.attack.params) for c in judged}
    for name in ("cw", "deepfool", "square"):
        assert params[name] == PAPER_ATTACKS[name]
    assert params["hsj"]["max_queries"] == 5000 and params["hsj"]["steps"] == PAPER_ATTACKS["hsj"]["steps"]
    assert (params["nattack"]["population"], params["nattack"]["iterations"]) == (300, 400)
    assert {d.name for d in {c.defense for c in build_grid(p)}} == {"none", "jpeg", "static-N3", "dynamic-N3"}

"""The profile's settings by path: what `--set` reaches in the grid, what `cnr attack` runs beside the grid, the
older names as aliases, and the committed tables' overrides resolving to their own run folders."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from cnr.cells.groups import GROUPS, attack_spec, build_grid
from cnr.cli import _run, build_parser
from cnr.config import ALIASES, PROFILES, canonical, parse_override
from cnr.errors import InputError
from cnr.paths import RESULTS_DIR
from cnr.run import resolve_run


def _grid_attacks(profile, label: str) -> set[tuple]:
    """(attack, view, params) of every grid cell of a group: what the grid runs for it."""
    return {(c.attack.attack, c.attack.view, c.attack.params) for c in build_grid(profile) if c.attack.label == label}


def _cli_attack(*argv: str):
    """The AttackSpec `cnr attack ...` would run, built as the command builds it (nothing is attacked)."""
    args = build_parser().parse_args(["attack", *argv])
    run = _run(args)
    return run.profile, attack_spec(run.profile, args.attack, args.group, args.norm, args.budget, args.view,
                                    args.param)


@pytest.mark.parametrize("item", ["attacks.pgd.steps=40", "pgd_steps=40"])  # the path, or its older name
def test_set_attack_steps_reaches_the_grids_bpda_pgd(item):
    p = resolve_run("quick", dict([parse_override(item)])).profile
    assert dict(GROUPS["bpda-pgd"].params(p))["steps"] == 40
    assert _grid_attacks(p, "bpda-pgd") == {("pgd", "bpda", (("steps", 40),))}
    # every PGD group without steps of its own follows; an EOT group's own steps win over the attack's
    assert dict(GROUPS["generalized-bpda-pgd"].params(p))["steps"] == 40
    assert dict(GROUPS["eot-bpda-pgd"].params(p))["steps"] == PROFILES["quick"].attacks["eot-bpda-pgd"]["steps"]
    assert PROFILES["quick"].attacks["pgd"]["steps"] != 40  # the registry's profile is untouched


def test_cnr_attack_pgd_runs_the_quick_grids_bpda_pgd():
    p, spec = _cli_attack("--profile", "quick", "--attack", "pgd")
    group = GROUPS["bpda-pgd"]
    assert (spec.attack, spec.view, spec.params) == (group.attack, group.view, group.params(p))
    assert _grid_attacks(p, "bpda-pgd") == {(spec.attack, spec.view, spec.params)}


@pytest.mark.parametrize("label", ["eot-bpda-pgd", "generalized-bpda-pgd", "cw"])
def test_cnr_attack_group_runs_that_groups_parameters(label):
    p, spec = _cli_attack("--profile", "quick", "--group", label)
    group = GROUPS[label]
    assert spec.label == label and (spec.attack, spec.view, spec.params) == (group.attack, group.view,
                                                                            group.params(p))
    assert _grid_attacks(p, label) == {(spec.attack, spec.view, spec.params)}
    if label == "eot-bpda-pgd":  # the EOT samples are the group's, not plain PGD's
        assert dict(spec.params)["eot"] == PROFILES["quick"].attacks["eot-bpda-pgd"]["eot"] > 1


def test_cnr_attack_group_refuses_another_attack_and_unknown_groups():
    with pytest.raises(InputError, match="'eot-bpda-pgd'.*'cw'"):
        _cli_attack("--profile", "quick", "--group", "eot-bpda-pgd", "--attack", "cw")
    with pytest.raises(InputError, match="cell group 'nope'"):
        _cli_attack("--profile", "quick", "--group", "nope")


def test_every_older_name_stands_for_settable_paths():
    for name, paths in ALIASES.items():
        assert paths and all(canonical(path) == (path,) for path in paths), name
    p = resolve_run("quick", {"eot_steps": 7}).profile  # one older name may stand for several paths
    assert all(p.attacks[g]["steps"] == 7 for g in ("eot-bpda-pgd", "eot-diffjpeg-pgd", "eot-strong-bpda-pgd"))


def test_a_group_that_runs_no_attack_takes_no_parameters():
    with pytest.raises(InputError, match=r"'clean'.*attacks\.clean"):
        resolve_run("quick", {"attacks.clean.steps": 3})


def _committed_tables() -> list:
    tables = sorted(RESULTS_DIR.glob("*/tables/robustness.csv"))
    assert tables, f"no committed results tables under {RESULTS_DIR}"
    return tables


@pytest.mark.parametrize("table", _committed_tables(), ids=lambda t: t.parent.parent.name)
def test_committed_overrides_resolve_to_their_run_folder(table):
    """A table's rows name their run (profile + overrides as JSON, older names included): that run is the folder."""
    rows = pd.read_csv(table, usecols=["profile", "overrides"], dtype=str, keep_default_na=False)
    runs = rows.drop_duplicates()
    assert len(runs) == 1, runs  # one run per folder
    for row in runs.itertuples():
        run = resolve_run(row.profile, json.loads(row.overrides), results_root=RESULTS_DIR)
        assert run.out_dir == table.parent.parent and run.robustness_csv == table

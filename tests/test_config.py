"""cnr.config: the profiles and their settings by path: what `--set` reaches in the grid, what `cnr attack` runs
beside the grid, the older names as aliases, the values each setting refuses, and the committed tables' overrides
resolving to their own run folders."""
from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from helpers import assert_cli_refuses, mentions, run_cli

from cnr.cells.groups import GROUPS, attack_spec, build_grid
from cnr.cli import _run, build_parser
from cnr.config import ALIASES, PROFILES, Profile, canonical, get_profile, parse_override, with_settings
from cnr.errors import InputError
from cnr.eval.identity import check_own_rows
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
        check_own_rows(pd.read_csv(table), run, table)  # older setting names are the same run's, not another's


def _set(text: str) -> Profile:
    """What `--set text` makes of the quick profile: parsed, then checked by the profile's own parts."""
    return with_settings(PROFILES["quick"], dict([parse_override(text)]))


def test_profiles_cover_the_four_and_reject_unknowns():
    assert {"smoke", "quick", "full", "paper"} <= set(PROFILES)
    assert get_profile("quick", seed=3).seed == 3 and PROFILES["quick"].seed == 0  # a copy, the registry untouched
    with pytest.raises(InputError, match="'fast'.*full, ") as err:
        get_profile("fast")
    assert all(name in str(err.value) for name in PROFILES)
    with pytest.raises(InputError, match="'not_a_field'"):
        get_profile("quick", not_a_field=1)
    for name in ("samples.eval", "n_eval"):  # the path, or the older name it replaces
        with pytest.raises(InputError, match=r"samples\.eval.*'5'"):
            get_profile("quick", **{name: "5"})
    assert not {"results_dir", "models_dir", "extra"} & {f.name for f in dataclasses.fields(Profile)}


@pytest.mark.parametrize("text, parsed, read, kept", [
    ("samples.eval=100", ("samples.eval", 100), lambda p: p.samples.eval, 100),
    (" samples.eval = 7 ", ("samples.eval", 7), lambda p: p.samples.eval, 7),
    ("n_eval=100", ("n_eval", 100), lambda p: p.samples.eval, 100),  # an older name, kept as an alias
    ("grid.ref_linf=1", ("grid.ref_linf", 1), lambda p: p.grid.ref_linf, 1.0),  # widened where a float is due
    ("grid.qf_range=20,60", ("grid.qf_range", (20, 60)), lambda p: p.grid.qf_range, (20, 60)),
    ("grid.linf_budgets=[0.1, 0.2]", ("grid.linf_budgets", (0.1, 0.2)), lambda p: p.grid.linf_budgets, (0.1, 0.2)),
    ("device=cuda", ("device", "cuda"), lambda p: p.device, "cuda"),  # a bare word is a string
    ("clf.train_limit=None", ("clf.train_limit", None), lambda p: p.clf.train_limit, None),
    ("attacks.pgd.steps=40", ("attacks.pgd.steps", 40), lambda p: p.attacks["pgd"]["steps"], 40),
])
def test_parse_override_reads_a_literal_that_the_profile_keeps(text, parsed, read, kept):
    assert parse_override(text) == parsed
    value = read(_set(text))
    assert value == kept and type(value) is type(kept)


@pytest.mark.parametrize("text, path", [
    ("samples.eval", "--set takes path=value"),
    ("nope=1", "'nope'"),
    ("samples.eval=1.5", r"samples\.eval"),
    ("n_eval=1.5", r"samples\.eval"),
    ("samples.eval=True", r"samples\.eval"),  # a bool is not an int here
    ("seed=true", "seed.*'true'"),
    ("grid.qf_range=20", r"grid\.qf_range"),
    ("grid.qf_range=1,2,3", r"grid\.qf_range"),
    ("attacks.pgd=3", r"attacks\.pgd"),
])
def test_a_set_the_setting_cannot_hold_is_refused(text, path):
    with pytest.raises(InputError, match=path):
        _set(text)


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("setting, needle", [
    ("data.dataset=foolbox-cifar10", ("data.classifier='fmnist-cnn'", "data.dataset='foolbox-cifar10'")),
    ("classifier=cifar10-keras", ("data.classifier='cifar10-keras'", "data.dataset='fmnist'")),
    ("data.classifier=resnet5O", ("data.classifier", "'resnet5O'", "cifar10-keras")),
    ("dataset=fmnsit", ("data.dataset", "'fmnsit'", "fmnist")),
    ("sweep_ns=(7,)", ("sweep_ns", "N=7", "(1, 3, 5)")),
    ("grid.margin_linf=(0.07,)", ("margin_linf", "0.07", "linf_budgets")),
])
def test_profile_model_and_data(capsys, tmp_path, setting, needle):
    assert_cli_refuses(capsys, tmp_path, ["grid", "--set", setting], needle)


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("setting, needle", [
    ("argan_pretrain_steps_by_qf=((60, -5),)", ("pretrain_steps_by_qf", "QF 60", "-5")),
    ("bank.pretrain_steps_by_qf=((500, 100),)", ("pretrain_steps_by_qf", "QF 500")),
    ("argan_pretrain_steps_by_qf=((7, 100),)", ("pretrain_steps_by_qf", "QF 7")),
    ("argan_pretrain_steps_by_qf=((60, 10), (60, 20))", ("pretrain_steps_by_qf", "60 more than once")),
    ("argan_natural_train=(('lr', '1e-4'),)", ("natural_train", "'lr'", "'1e-4'")),
    ("argan_natural_train=(('nope', 1),)", ("natural_train", "'nope'", "adv_weight, gan_steps, lr")),
    ("argan_natural_train=(('pixel', 'l3'),)", ("natural_train", "'pixel'", "'l3'")),
    ("argan_qfs=(5, 5, 10)", ("bank.qfs", "5 more than once")),
    ("argan_preset=../../etc", ("bank.preset", "'../../etc'", "paper, quick")),
    ("bank.preset_natural=bogus", ("bank.preset_natural", "'bogus'")),
])
def test_nested_profile_values(capsys, tmp_path, setting, needle):
    code, text = run_cli(capsys, "grid", "--set", setting, "--workers", "1")
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists()


def test_nested_profile_values_through_the_api():
    from cnr.errors import InputError
    from cnr.run import resolve_run, with_overrides

    run = resolve_run("quick")
    with pytest.raises(InputError, match="pretrain_steps_by_qf.*QF 7"):
        with_overrides(run, **{"bank.qfs": (5, 10), "bank.pretrain_steps_by_qf": ((7, 10),)})
    with pytest.raises(InputError, match="pretrain_steps_by_qf.*QF 7"):  # the older names too
        with_overrides(run, argan_qfs=(5, 10), argan_pretrain_steps_by_qf=((7, 10),))
    more = with_overrides(run, **{"bank.pretrain_steps_by_qf": (("static", 10),)})
    assert more.profile.bank.pretrain_steps_by_qf == (("static", 10),)


def test_imagenet_profile_is_the_measured_cut():
    """What the CPU cut keeps (profile comment): BPDA-PGD on all 8 budgets for the four defenses, EOT and generalized
    BPDA at the reference budgets, the margin EOT-BPDA at Linf 2, 4 and 8/255 (JPEG at 4/255 only), Square (Linf) and
    HopSkipJump (L2) on 10 images, no fixed-QF defense;
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
    margin = [c for c in cells if c.attack.label == "margin-eot-bpda-pgd"]  # the convergence sweep's strongest
    assert {(c.defense.name, c.attack.norm, c.attack.budget) for c in margin} == {
        (d, "linf", b) for d in defenses[2:] for b in (2 / 255, 4 / 255, 8 / 255)} | {("jpeg", "linf", 4 / 255)}
    assert dict(margin[0].attack.params) == {"steps": 5, "eot": 8, "loss": "margin"}
    assert (p.compute.precision, p.compute.channels_last) == ("bf16", True)
    assert resolve_run("legacy-imagenet").profile.compute.precision == "fp32"  # its committed cells ran in float32
    assert resolve_run("quick").profile.compute.precision == "bf16-restorers"  # a float32 classifier: bare rows exact
    assert resolve_run("study").profile.compute.precision == "fp32"
    assert p.sample_sizes() == {"eval": 50, "costly": 50, "blackbox": 10}
    assert [b.name for b in notebooks(only=p.notebooks)] == ["03_attacks.ipynb", "04_figures.ipynb"]
    assert len(notebooks()) == 7


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


@pytest.mark.parametrize("setting, value, needle", [
    ("grid.ns", (1000,), ("grid.ns", "[1, 100]", "1000")),
    ("mechanism.ns", (1, 101), ("mechanism.ns", "101")),
    ("grid.qf_range", (20,), ("grid.qf_range", "(20,)")),
    ("samples.draws", 10**12, ("samples.draws", "[1, 1000000]")),  # sizes that run for days or allocate
    ("bank.batch", 10**12, ("bank.batch", "[1, 1000000]")),
    ("bank.patch", 10**9, ("bank.patch", "[4, 4096]")),
    ("grid.workers", 10**9, ("grid.workers", "[1, 1000000]")),
])
def test_bounds_of_defense_settings(setting, value, needle):
    with pytest.raises(InputError) as e:
        get_profile("smoke", **{setting: value})
    assert mentions(str(e.value), needle), e.value


def test_with_settings_takes_a_mapping():
    with pytest.raises(InputError, match="settings must be a mapping.*got str"):
        with_settings(get_profile("smoke"), "samples.eval=3")

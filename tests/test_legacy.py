"""cnr.legacy: each profile's tracks as runs, and the kit's curves read off the tracks' tables (empty before a grid)."""
from __future__ import annotations

import pytest

from cnr.errors import InputError
from cnr.legacy import kit_curves, legacy_runs


def test_the_legacy_profile_has_four_tracks_and_overrides_reach_each(tmp_path):
    runs = legacy_runs("legacy", results_root=tmp_path)
    assert {k: r.name for k, r in runs.items()} == {
        "fmnist quick bank": "legacy", "fmnist paper bank": "legacy+bank.preset=paper,compute.precision=bf16-restorers",
        "imagenet natural bank": "legacy-imagenet", "fmnist quick bank, randomness": "legacy-randomness"}
    assert runs["fmnist paper bank"].profile.bank.preset == "paper"
    assert runs["fmnist paper bank"].profile.compute.precision == "bf16-restorers"
    some = legacy_runs("legacy", {"samples.blackbox": 20}, tracks=["imagenet natural bank"], results_root=tmp_path)
    assert list(some) == ["imagenet natural bank"] and some["imagenet natural bank"].profile.samples.blackbox == 20
    assert list(legacy_runs("smoke", results_root=tmp_path)) == ["smoke quick bank"]
    assert list(legacy_runs("legacy-imagenet", results_root=tmp_path)) == ["legacy-imagenet"]


@pytest.mark.parametrize("profile, tracks, message", [
    ("legacy", ["nope"], "has no track 'nope'; its tracks: fmnist quick bank"),
    ("legacy", "fmnist quick bank", "tracks must be a non-empty list"),
    ("quick", None, "does not run the legacy cell groups"),
])
def test_bad_tracks_are_refused(tmp_path, profile, tracks, message):
    with pytest.raises(InputError, match=message):
        legacy_runs(profile, tracks=tracks, results_root=tmp_path)


def test_no_curves_before_the_grids_ran(tmp_path):
    assert kit_curves(legacy_runs("legacy", results_root=tmp_path)).empty


def test_the_randomness_aware_cells_run_on_the_random_defenses_with_their_query_budgets():
    from cnr.cells.groups import build_grid
    from cnr.run import resolve_run

    cells = build_grid(resolve_run("legacy-randomness").profile)
    by_group: dict[str, set[str]] = {}
    for c in cells:
        by_group.setdefault(c.attack.label, set()).add(c.defense.name)
    assert by_group["legacy-hsj"] == {"none", "jpeg-qf40", "dynamic-N3"}
    for g in ("legacy-hsj-vote3", "legacy-hsj-vote9-x9", "legacy-hsj-fresh", "legacy-square-eot3"):
        # JPEG at one QF is deterministic: k draws change nothing; the bare model checks the attack's strength
        assert by_group[g] == {"none", "dynamic-N3"}, g
    params = {c.attack.label: dict(c.attack.params) for c in cells}
    assert params["legacy-hsj-vote3"]["max_queries"] == 5000 and params["legacy-hsj-vote3"]["draws"] == 3
    assert params["legacy-hsj-vote9-x9"]["max_queries"] == 45000 and params["legacy-hsj-fresh"]["answer_cache"] is False
    assert params["legacy-square-eot9"] == {"batch_size": 250, "draws": 9, "n_queries": 5000}


def test_the_legacy_cells_keep_the_keys_of_rows_already_run():
    """The protocol's settings moved to the profile's hsj / square entries; a row run before keeps resuming."""
    from cnr.cells.groups import build_grid
    from cnr.run import resolve_run

    params = {c.attack.label: dict(c.attack.params) for c in build_grid(resolve_run("legacy").profile)}
    assert params["legacy-hsj"] == {"max_queries": 5000, "steps": 20, "initial_gradient_eval_steps": 100,
                                    "batch_size": 250}
    assert params["legacy-square"] == {"n_queries": 5000, "batch_size": 250}
    assert params["legacy-eot-bpda-pgd"] == {"eot": 4, "steps": 10} and params["legacy-bpda-pgd"] == {"steps": 20}
    # the full key of a committed row (results/legacy/tables/robustness.csv), frozen
    cell = next(c for c in build_grid(resolve_run("legacy").profile)
                if c.attack.label == "legacy-square" and c.defense.name == "dynamic-N3" and c.attack.budget == 0.05)
    assert cell.key("fmnist", "fmnist-cnn", 0) == dict(
        dataset="fmnist", classifier="fmnist-cnn", defense="dynamic-N3", attack="legacy-square", norm="l2",
        budget=0.05, params='{"batch_size": 250, "n_queries": 5000}', seed=0)


def test_the_imagenet_track_batches_square_over_all_its_images_and_hopskipjump_by_two():
    """At 224 px HopSkipJump's gradient estimate holds hundreds of copies per image; Square holds one."""
    from cnr.cells.groups import build_grid
    from cnr.run import resolve_run

    run = resolve_run("legacy-imagenet")
    params = {c.attack.label: dict(c.attack.params) for c in build_grid(run.profile)}
    assert params["legacy-square"]["batch_size"] == run.profile.samples.blackbox == 20
    assert params["legacy-hsj"]["batch_size"] == 2


def test_no_views_before_the_grids_ran_and_the_randomness_track_is_not_compared_again(tmp_path):
    from cnr.legacy import compared, views_table

    runs = legacy_runs("legacy", results_root=tmp_path)
    assert views_table(runs, "legacy").empty
    import pandas as pd

    curves = pd.DataFrame({"track": list(runs)})
    assert list(compared(curves, "legacy")["track"]) == ["fmnist quick bank", "fmnist paper bank",
                                                          "imagenet natural bank"]


def test_a_study_table_is_computed_once_per_settings(tmp_path):
    import pandas as pd

    from cnr.legacy import cached_study

    run = legacy_runs("smoke", results_root=tmp_path)["smoke quick bank"]
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [len(calls)]})

    assert cached_study(run, "s", {"n": 4}, compute)["x"].tolist() == [1]
    assert cached_study(run, "s", {"n": 4}, compute)["x"].tolist() == [1] and len(calls) == 1  # read back
    assert cached_study(run, "s", {"n": 8}, compute)["x"].tolist() == [2]  # other settings: computed again
    assert (run.tables_dir / "s.settings.json").read_text().strip().startswith("{")


def test_an_attack_too_weak_on_the_bare_model_is_marked_at_that_budget(tmp_path):
    import pandas as pd

    from cnr.legacy import mark_weak

    def row(attack, defense, budget, acc):
        return dict(track="smoke quick bank", attack=attack, defense=defense,
                    mode="none" if defense == "none" else "dynamic", budget=budget, accuracy=acc)

    runs = legacy_runs("smoke", results_root=tmp_path)
    run = runs["smoke quick bank"]
    run.tables_dir.mkdir(parents=True)
    pd.DataFrame([dict(dataset="fmnist", classifier="fmnist-cnn", defense="none", attack=a, norm="l2", budget=b,
                       params="{}", seed=0, mode="none", kind="adaptive", accuracy=acc, n=8)
                  for a, b, acc in (("legacy-bpda-pgd", 0.05, 0.3), ("legacy-eot-bpda-pgd", 0.05, 0.235),
                                    ("legacy-bpda-pgd", 0.08, 0.02))]).to_csv(run.robustness_csv, index=False)
    curves = pd.DataFrame([row("HopSkipJump", "none", 0.0, 0.95), row("HopSkipJump", "none", 0.05, 0.75),
                           row("HopSkipJump", "none", 0.06, 0.30), row("Square (L2)", "none", 0.05, 0.30),
                           row("HopSkipJump", "dynamic-N3", 0.05, 0.91), row("HopSkipJump", "dynamic-N3", 0.01, 0.91),
                           row("HopSkipJump, 3-draw majority", "dynamic-N3", 0.05, 0.80)])
    out = mark_weak(curves, runs, "smoke").set_index(["attack", "defense", "budget"])
    assert out.loc[("HopSkipJump", "none", 0.05), "inconclusive"]  # 0.75 > 0.235 (the best white-box) + 0.10
    assert not out.loc[("Square (L2)", "none", 0.05), "inconclusive"]  # within 10 points
    assert out.loc[("HopSkipJump", "dynamic-N3", 0.05), "inconclusive"]  # judged on the bare model
    # 0.06 has no white-box cell: judged against 0.05's (an upper bound of the white-box accuracy at 0.06)
    assert out.loc[("HopSkipJump", "none", 0.06), "reference_accuracy"] == 0.235
    # not checked: no bare-model cell of the attack, or no white-box cell at or below the budget
    assert pd.isna(out.loc[("HopSkipJump, 3-draw majority", "dynamic-N3", 0.05), "inconclusive"])
    assert pd.isna(out.loc[("HopSkipJump", "dynamic-N3", 0.01), "inconclusive"])
    assert not out.loc[("HopSkipJump", "none", 0.0), "inconclusive"]  # the clean point is no attack

"""cnr.legacy: each profile's tracks as runs, and the kit's curves read off the tracks' tables (empty before a grid)."""
from __future__ import annotations

import pytest

from cnr.errors import InputError
from cnr.legacy import kit_curves, legacy_runs


def test_the_legacy_profile_has_three_tracks_and_overrides_reach_each(tmp_path):
    runs = legacy_runs("legacy", results_root=tmp_path)
    assert {k: r.name for k, r in runs.items()} == {
        "fmnist quick bank": "legacy", "fmnist paper bank": "legacy+bank.preset=paper",
        "imagenet natural bank": "legacy-imagenet"}
    assert runs["fmnist paper bank"].profile.bank.preset == "paper"
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

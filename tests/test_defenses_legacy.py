"""cnr.defenses.legacy: the legacy layouts as grid defenses (JPEG at a fixed QF, the nearest of 20/40/60 restorers),
and the legacy cell groups that run them beside `none` and the kit's full-bank dynamic defense."""
from __future__ import annotations

import pytest
import torch
from helpers import toy_bank

from cnr.cells.groups import build_grid
from cnr.config import Grid
from cnr.defenses import CompressRestore, grid_defenses
from cnr.defenses.legacy import legacy_family, sub_bank
from cnr.errors import InputError
from cnr.profiles import PROFILES


def test_a_grid_without_the_settings_has_no_legacy_defense():
    assert legacy_family(Grid()) == []
    assert not any("legacy" in d.roles for d in grid_defenses(PROFILES["quick"]))


def test_legacy_family_names_roles_and_options():
    specs = {d.name: d for d in legacy_family(Grid(sweep_ns=(3,), jpeg_fixed_qf=40, nearest_bank=(60, 20, 40)))}
    assert list(specs) == ["jpeg-qf40", "dynamic-N3-bank20-40-60"]
    assert specs["jpeg-qf40"].columns()["random_qf"] is False and specs["jpeg-qf40"].qf_range == (40, 40)
    assert dict(specs["dynamic-N3-bank20-40-60"].options) == {"bank_qfs": (20, 40, 60)}
    assert specs["dynamic-N3-bank20-40-60"].qf_range == (20, 60) and specs["dynamic-N3-bank20-40-60"].needs_bank


def test_the_sub_bank_serves_each_qf_with_the_nearest_of_its_few_restorers():
    bank = toy_bank()  # QF 10/20/40/60 + static
    few = sub_bank(bank, (20, 40, 60))
    assert few.qfs == (20, 40, 60) and few.has_static
    # a tie goes to the higher QF (RestorerBank.nearest); 10 is no longer there, so 12 goes to 20
    assert [few.nearest(q) for q in (12, 29, 30, 31, 49, 50, 60)] == [20, 20, 40, 40, 40, 60, 60]
    assert few.generator_for(29) is bank.generator_for(20)  # the same modules, not copies
    x = torch.rand(3, 1, 28, 28)
    qf = torch.tensor([29, 30, 50])
    assert torch.equal(few.restore(x, qf), torch.cat([bank.generator_for(q)(x[i:i + 1])
                                                      for i, q in enumerate((20, 40, 60))]))
    with pytest.raises(InputError, match=r"QF \[30\]"):
        sub_bank(bank, (20, 30))


def test_legacy_specs_build_their_modules():
    bank = toy_bank()
    specs = {d.name: d for d in legacy_family(Grid(sweep_ns=(3,), jpeg_fixed_qf=40, nearest_bank=(20, 40, 60)))}
    jpeg = specs["jpeg-qf40"].build(bank)
    assert isinstance(jpeg, CompressRestore) and jpeg.mode == "jpeg" and not jpeg.is_random and jpeg.bank is None
    dyn = specs["dynamic-N3-bank20-40-60"].build(bank, grad="bpda", seed=2)
    assert (dyn.mode, dyn.n_iter, dyn.qf_range, dyn.seed) == ("dynamic", 3, (20, 60), 2)
    assert dyn.bank.qfs == (20, 40, 60)


@pytest.mark.parametrize("name, defenses", [
    ("legacy", {"none", "jpeg-qf40", "dynamic-N3", "dynamic-N3-bank20-40-60"}),
    ("legacy-imagenet", {"none", "jpeg-qf40", "dynamic-N3"}),
])
def test_legacy_profiles_run_clean_hsj_once_and_square_per_budget(name, defenses):
    p = PROFILES[name]
    cells = build_grid(p)
    by_group = {}
    for c in cells:
        by_group.setdefault(c.attack.label, []).append(c)
    assert {c.defense.name for c in cells} == defenses
    assert [(c.attack.norm, c.attack.budget) for c in by_group["legacy-hsj"]] == [("l2", float("inf"))] * len(defenses)
    assert sorted({c.attack.budget for c in by_group["legacy-square"]}) == [0.01, 0.03, 0.05, 0.08]
    # clean, HopSkipJump once, Square at 4 budgets; on Fashion-MNIST also BPDA-PGD and EOT-BPDA-PGD at the 4 budgets
    white = 8 if name == "legacy" else 0  # legacy-imagenet borrows the imagenet grid's white-box cells
    assert len(by_group["legacy-square"]) == 4 * len(defenses) and len(cells) == (6 + white) * len(defenses)
    hsj = dict(by_group["legacy-hsj"][0].attack.params)
    assert hsj["max_queries"] == 5000 and dict(by_group["legacy-square"][0].attack.params)["n_queries"] == 5000
    assert p.samples.sizes()["blackbox"] <= p.samples.eval  # the clean cells cover the minimal run's images

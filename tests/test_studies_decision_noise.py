"""cnr.studies.decision_noise: flip rates between two draws by distance to the boundary, on a model whose noise is
known, and the study on the smoke profile."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnr.defenses.compress_restore import _mix
from cnr.errors import InputError
from cnr.studies.decision_noise import decision_noise, decision_noise_study


class NoisyThreshold(nn.Module):
    """Class 1 when the mean pixel plus a draw's uniform noise in [-0.1, 0.1] passes 0.4: a boundary of known width."""

    is_random = True

    def forward(self, x: torch.Tensor, draw: torch.Tensor) -> torch.Tensor:
        u = (_mix(draw) % 10_000).float() / 10_000 * 0.2 - 0.1  # a hash of the draw: uniform, independent draws
        s = x.flatten(1).mean(1) + u
        return torch.stack([0.4 - s, s - 0.4], 1)


def test_flips_happen_only_within_the_noise_of_the_boundary():
    x = torch.full((3, 1, 8, 8), 0.2)
    x_adv = torch.full((3, 1, 8, 8), 0.6)  # the boundary at t = 0.5; one segment length is 2 in normalized L2
    table = decision_noise(NoisyThreshold(), x, torch.zeros(3, dtype=torch.int64), x_adv, points=17, pairs=32,
                           edges=(-0.6, -0.1, 0.1, 0.6))
    assert table["n"].sum() == 3 * 17 * 32 and (table["images"] == 3).all()
    far = table[(table["bin_hi"] <= -0.6) | (table["bin_lo"] >= 0.6)]
    near = table[(table["bin_lo"] == -0.1) & (table["bin_hi"] == 0.1)].iloc[0]
    # flips need |mean - 0.4| < 0.1, i.e. |t - 0.5| < 0.25, a distance below 0.5 (the estimated boundary moves it a bit)
    assert (far["flips"] == 0).all() and far["n"].sum() > 0
    assert 0.2 < near["flip_rate"] <= 0.5 + 0.1 and near["lo"] < near["flip_rate"] < near["hi"]


def test_a_deterministic_model_never_flips_and_bad_inputs_are_refused():
    torch.manual_seed(0)
    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    x = torch.rand(4, 1, 8, 8)
    y = clf(x).argmax(1)
    table = decision_noise(clf, x, y, 1 - x, points=9, pairs=2)
    assert table["flips"].sum() == 0 and table["n"].sum() == table["images"].iloc[0] * 9 * 2
    assert table["flip_rate"][table["n"] == 0].isna().all()
    with pytest.raises(InputError, match="one length"):
        decision_noise(clf, x, y, x[:2])
    with pytest.raises(InputError, match="reach"):
        decision_noise(clf, x, y, 1 - x, reach=0.5)


def test_the_study_on_the_smoke_profile(ev):
    walk = dict(steps=1, initial_gradient_eval_steps=5, max_gradient_eval_steps=5, init_steps=10, init_directions=50)
    table = decision_noise_study(ev, defenses=("dynamic-N3",), n=4, hsj_params=walk, points=9, pairs=2)
    assert set(table["defense"]) == {"dynamic-N3"} and (table["seed"] == ev.seed).all()
    assert table["n"].sum() == table["images"].iloc[0] * 9 * 2 and table["images"].iloc[0] >= 1
    assert ((table["lo"] <= table["flip_rate"]) & (table["flip_rate"] <= table["hi"]))[table["n"] > 0].all()

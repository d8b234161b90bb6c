"""Progress bars counted in forward passes: the count PGD makes is the one its bar expects, and the hook leaves the
model's output and the attack's result unchanged."""
from __future__ import annotations

import functools
import io

import pytest
import torch
from torch import nn
from tqdm.std import tqdm

from cnr import progress
from cnr.attacks import run_attack
from cnr.progress import forward_passes, pgd_passes


@pytest.mark.parametrize("n, steps, eot, batch_size", [(5, 3, 1, 250), (5, 2, 3, 2)])
def test_pgd_makes_the_passes_its_bar_expects(n, steps, eot, batch_size, monkeypatch):
    # the suite's TQDM_DISABLE makes bars count nothing: this one counts, into a string
    monkeypatch.setattr(progress, "tqdm", functools.partial(tqdm, disable=False, file=io.StringIO()))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()
    x, y = torch.rand(n, 3, 8, 8), torch.randint(0, 4, (n,))
    plain = run_attack("pgd", model, x, y, 8 / 255, steps=steps, eot=eot, batch_size=batch_size)
    total = pgd_passes(n, steps, eot, batch_size)
    with forward_passes(model, total, "test") as bar:
        counted = run_attack("pgd", model, x, y, 8 / 255, steps=steps, eot=eot, batch_size=batch_size)
    assert bar.n == total  # one step per pass, whatever the batch holds
    assert torch.equal(plain.x_adv, counted.x_adv)
    assert not model._forward_hooks  # removed on leaving the block

"""cnr.checks.images_checked: image values are checked once at the public entry, structure everywhere."""
from __future__ import annotations

import pytest
import torch

from cnr.checks import check_images, images_checked, values_checked
from cnr.errors import InputError
from cnr.paths import WEIGHTS_DIR


@pytest.fixture(scope="module")
def defense():
    from cnr import CompressRestore, RestorerBank

    return CompressRestore(RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick"), (20, 60), 3, mode="dynamic")


@pytest.fixture
def image_passes(monkeypatch):
    """Counts full-tensor finiteness passes over image batches (the first of check_images' value checks)."""
    seen = []
    isfinite = torch.isfinite

    def counting(t):
        if t.ndim == 4:
            seen.append(tuple(t.shape))
        return isfinite(t)

    monkeypatch.setattr(torch, "isfinite", counting)
    return seen


def test_values_are_skipped_inside_only_and_structure_is_always_checked():
    bad = torch.full((2, 1, 8, 8), float("nan"))
    with pytest.raises(InputError, match="NaN or Inf"):
        check_images(bad)
    with images_checked():
        assert values_checked()
        assert check_images(bad) is bad
        with pytest.raises(InputError, match="must be NCHW"):
            check_images(bad[0])
        with pytest.raises(InputError, match="got dtype float64"):
            check_images(bad.double())
    assert not values_checked()
    with pytest.raises(InputError, match="lie in"):
        check_images(bad.nan_to_num(2.0))


def test_the_flag_is_reset_after_an_error():
    with pytest.raises(RuntimeError), images_checked():
        raise RuntimeError("inside")
    assert not values_checked()


def test_defended_forward_checks_its_input_once(defense, image_passes):
    x = torch.rand(4, 1, 28, 28)
    defense(x)
    assert image_passes == [(4, 1, 28, 28)]  # the defense's entry; none in its 3 restore calls


def test_a_direct_call_still_gets_the_kits_errors(defense):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(InputError, match=r"defense input contain NaN or Inf: 1 of"):
        defense(torch.cat([x[:1], x[1:].index_fill(2, torch.tensor([3]), float("nan")).index_fill(3, torch.tensor(
            list(range(1, 28))), 0.5)]))
    with pytest.raises(InputError, match=r"defense input must lie in \[0, 1\]"):
        defense(x * 255)
    with pytest.raises(InputError, match="images to restore must lie in"):
        defense.bank.restore(x * 255, torch.full((2,), 40))
    with pytest.raises(InputError, match=r"per-image QFs must be integers in 1..100"):
        defense.bank.restore(x, torch.tensor([40, 0]))


def test_queries_inside_run_attack_check_structure_only(defense, image_passes):
    from cnr import Defended, load_classifier
    from cnr.attacks import run_attack

    model = Defended(defense, load_classifier("fmnist-cnn"))
    x = torch.rand(3, 1, 28, 28)
    image_passes.clear()  # the classifier's weights are checked when it loads
    res = run_attack("square", model, x, torch.zeros(3, dtype=torch.int64), 0.1, n_queries=5)
    assert res.n_forward > 3
    assert image_passes == [(3, 1, 28, 28)]  # run_attack's own entry check, none per query

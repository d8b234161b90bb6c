"""cnr.defenses.compress_restore: modes, seeded per-image QF draws, the three backward passes (and the expected
restorer's), its contract, and Defended in front of a classifier."""
from __future__ import annotations

import pytest
import torch
from helpers import toy_bank

from cnr.argan import RestorerBank
from cnr.classifiers import load_classifier
from cnr.data import load_fmnist
from cnr.defenses import (
    CompressRestore,
    Defended,
)
from cnr.errors import InputError
from cnr.jpeg import jpeg_roundtrip
from cnr.paths import WEIGHTS_DIR


@pytest.fixture(scope="module")
def bank() -> RestorerBank:
    return toy_bank()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_fmnist("test", limit=12)[0]


def test_output_independent_of_batch_size_and_order(bank, images):
    d = CompressRestore(bank, (20, 60), n_iter=3, mode="dynamic", seed=7)
    whole = d(images, draw=5)
    parts = torch.cat([d(images[:5], draw=5), d(images[5:], draw=5)])
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(whole, parts, atol=1e-6)
    assert torch.allclose(d(images[perm], draw=5), whole[perm], atol=1e-6)


def test_draws_change_qfs_and_seed_fixes_them(bank, images):
    d = CompressRestore(bank, (20, 60), n_iter=3, seed=1)
    q0, q1 = d.draw_qfs(images, 0), d.draw_qfs(images, 1)
    assert q0.shape == (3, len(images)) and q0.min() >= 20 and q0.max() <= 60
    assert not torch.equal(q0, q1)
    assert torch.equal(q0, CompressRestore(bank, (20, 60), n_iter=3, seed=1).draw_qfs(images, 0))
    assert not torch.equal(q0, CompressRestore(bank, (20, 60), n_iter=3, seed=2).draw_qfs(images, 0))
    many = torch.cat([d.draw_qfs(images, k).flatten() for k in range(200)])
    assert set(many.unique().tolist()) == set(range(20, 61))  # every QF of the range gets drawn
    # successive calls without a pinned draw give fresh randomness: the defense is random
    assert d.is_random and not torch.equal(d(images), d(images))


def test_qf_draws_are_pinned_for_a_seed_and_draw(images):
    # the QFs are integer hashes of (seed, draw, iteration, 8-bit content): the same on every machine, so exact
    d = CompressRestore(None, (20, 60), n_iter=3, mode="jpeg", seed=0)
    assert d.draw_qfs(images, 0).tolist() == [[39, 54, 41, 23, 24, 44, 37, 25, 51, 21, 47, 54],
                                              [33, 58, 28, 35, 51, 56, 24, 53, 31, 47, 38, 37],
                                              [39, 35, 48, 31, 20, 38, 43, 58, 59, 59, 36, 45]]
    assert d.draw_qfs(images, 7)[0].tolist() == [43, 26, 43, 41, 59, 48, 59, 22, 24, 37, 45, 26]
    assert d.calls == 0
    first, second = d(images), d(images)  # unpinned calls are draws 0 and 1, and advance the counter
    assert d.calls == 2 and torch.equal(first, d(images, draw=0)) and torch.equal(second, d(images, draw=1))
    torch.testing.assert_close(d(images[:4], draw=0), jpeg_roundtrip(jpeg_roundtrip(jpeg_roundtrip(
        images[:4], d.draw_qfs(images[:4], 0)[0]), d.draw_qfs(images[:4], 0)[1]), d.draw_qfs(images[:4], 0)[2]))


@pytest.fixture(scope="module")
def shipped_bank() -> RestorerBank:
    from cnr.run import resolve_run
    from cnr.training import load_bank

    return load_bank(resolve_run("smoke"), "fmnist")  # cnr/shipped/argan-fmnist-quick


@pytest.mark.parametrize("mode, checksum, mad", [
    ("dynamic", 2093.1793, 0.031004), ("static", 2102.6545, 0.035978), ("jpeg", 2204.756907, 0.037330)])
def test_defense_output_is_pinned_for_a_seed(shipped_bank, images, mode, checksum, mad):
    # Measured with the shipped quick bank on the first 12 test images, N=3, seed 0, draw 0. The JPEG mode is
    # exact; a generator's float32 output can round to the other 8-bit level before the next JPEG on another CPU
    # kernel, so 0.05 (about 13 such pixel levels among 9,408 pixels) is allowed on the sum.
    d = CompressRestore(shipped_bank if mode != "jpeg" else None, (20, 60), 3, mode=mode, seed=0)
    out = d(images, draw=0)
    assert out.double().sum().item() == pytest.approx(checksum, abs=0.05 if mode != "jpeg" else 1e-5)
    assert (out - images).abs().mean().item() == pytest.approx(mad, abs=2e-5)


def test_fixed_qf_is_deterministic(bank, images):
    d = CompressRestore(bank, 40, n_iter=2, mode="dynamic")
    assert not d.is_random and torch.equal(d(images), d(images))


def test_jpeg_mode_is_the_codec_and_dynamic_uses_the_bank(bank, images):
    d = CompressRestore(None, 30, n_iter=1, mode="jpeg")
    assert torch.equal(d(images), jpeg_roundtrip(images, 30))
    dyn = CompressRestore(bank, 30, n_iter=1, mode="dynamic")
    expected = bank.generator_for(30)(jpeg_roundtrip(images, 30))
    assert torch.allclose(dyn(images), expected, atol=1e-6)
    st = CompressRestore(bank, 30, n_iter=1, mode="static")
    assert torch.allclose(st(images), bank.static(jpeg_roundtrip(images, 30)), atol=1e-6)


def _input_grad(d: CompressRestore, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (d(x, draw=0) * w).sum().backward()
    return x.grad


def test_gradient_modes(bank, images):
    x = images[:4]
    w = torch.randn_like(x)
    # identity: the whole defense is the identity backward
    g_id = _input_grad(CompressRestore(bank, (20, 60), 3, grad="identity"), x, w)
    assert torch.allclose(g_id, w)
    # jpeg mode with bpda: JPEG is the identity backward, so again exactly w
    assert torch.allclose(_input_grad(CompressRestore(None, 40, 1, mode="jpeg", grad="bpda"), x, w), w)
    # bpda through the generators: exact generator gradient, differs from identity, finite
    g_bpda = _input_grad(CompressRestore(bank, (20, 60), 3, grad="bpda"), x, w)
    assert torch.isfinite(g_bpda).all() and not torch.allclose(g_bpda, w)
    # bpda with N=1 equals the generator's own VJP at the JPEG output
    d1 = CompressRestore(bank, 40, 1, grad="bpda")
    j = jpeg_roundtrip(x, 40).requires_grad_(True)
    (bank.generator_for(40)(j) * w).sum().backward()
    assert torch.allclose(_input_grad(d1, x, w), j.grad, atol=1e-5)
    # surrogate: finite and different from bpda
    g_sur = _input_grad(CompressRestore(bank, 40, 1, grad="surrogate"), x, w)
    assert torch.isfinite(g_sur).all() and not torch.allclose(g_sur, j.grad, atol=1e-4)
    # no parameter of the bank ever collects a gradient
    assert all(p.grad is None for p in bank.parameters())


def test_bad_configurations_name_the_problem(bank, images):
    with pytest.raises(InputError, match="valid modes: dynamic, static, jpeg"):
        CompressRestore(bank, mode="dynamc")
    with pytest.raises(InputError, match="valid: bpda, surrogate, identity"):
        CompressRestore(bank, grad="exact")
    with pytest.raises(InputError, match="needs a RestorerBank"):
        CompressRestore(None, mode="dynamic")
    with pytest.raises(InputError, match="qf_range"):
        CompressRestore(bank, (60, 20))
    with pytest.raises(InputError, match="n_iter"):
        CompressRestore(bank, n_iter=0)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        CompressRestore(bank)(images * 255)


def test_defended_is_a_plain_module(bank, images):
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    model = Defended(CompressRestore(bank, (20, 60), 3), clf)
    assert model(images).shape == (len(images), 10)
    assert model.is_random
    assert torch.equal(model(images, draw=3), model(images, draw=3))


def test_defended_ignores_draw_for_a_deterministic_defense(bank, images):
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    model = Defended(CompressRestore(bank, 40, 2), clf)
    assert not model.is_random and torch.equal(model(images, draw=3), model(images))
    assert not any(p.requires_grad for p in clf.parameters())


FMNIST_BANK = WEIGHTS_DIR / "argan-fmnist-quick"


@pytest.fixture(scope="module")
def models():
    from cnr import CompressRestore, RestorerBank, load_classifier

    bank = RestorerBank.load(FMNIST_BANK)
    return bank, load_classifier("fmnist-cnn"), CompressRestore(bank, (20, 60), 1)


def test_gray_bank_in_front_of_an_rgb_classifier(models):
    from cnr import Defended, load_classifier

    with pytest.raises(InputError, match="1-channel.*3-channel"):
        Defended(models[2], load_classifier("cifar10-keras"))


def test_expected_restorer_forward_is_the_drawn_generator_backward_the_static_one():
    bank = RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick", dataset="fmnist")
    x, _ = load_fmnist("test", limit=4)
    dyn = CompressRestore(bank, (20, 60), 1, mode="dynamic", grad="expected")
    stat = CompressRestore(bank, (20, 60), 1, mode="static", grad="bpda")
    exact = CompressRestore(bank, (20, 60), 1, mode="dynamic", grad="bpda")
    outs, grads = {}, {}
    for name, d in (("expected", dyn), ("static", stat), ("bpda", exact)):
        xi = x.clone().requires_grad_(True)
        out = d(xi, draw=7)
        out.square().sum().backward()
        outs[name], grads[name] = out.detach(), xi.grad
    assert torch.equal(outs["expected"], outs["bpda"])  # same draw, same forward
    assert not torch.allclose(grads["expected"], grads["bpda"])  # a different backward
    # the backward is the static generator's Jacobian applied at the same point, with the drawn output upstream
    xi = x.clone().requires_grad_(True)
    q = exact.draw_qfs(xi, 7)[0]
    from cnr.jpeg import jpeg_bpda

    j = jpeg_bpda(xi, q)
    (bank.static(j) * (2 * outs["bpda"])).sum().backward()
    assert torch.allclose(grads["expected"], xi.grad, atol=1e-5)


def test_under_bf16_autocast_the_defense_runs_and_its_restorations_stay_float32():
    from cnr import CompressRestore, Defended

    bank = RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert bank.generator_for(40)(x).dtype == torch.float32
        logits = Defended(CompressRestore(bank, (20, 60), 3), load_classifier("fmnist-cnn"))(x, draw=1)
    assert logits.shape == (4, 10) and torch.isfinite(logits.float()).all()


@pytest.mark.parametrize("name, value, shown", [("qf_range", "20,60x", "'60x'"), ("seed", "abc", "'abc'"),
                                               ("n_iter", True, "True"), ("n_iter", 0, r"\b0\b")])
def test_compress_restore_refuses_a_bad_argument_by_name(bank, name, value, shown):
    with pytest.raises(InputError, match=rf"^{name}\b.*{shown}"):
        CompressRestore(bank, **{"qf_range": (20, 60), name: value})


def test_compress_restore_takes_a_bank_and_an_integer_draw(bank, images):
    with pytest.raises(InputError, match=r"bank\b.*RestorerBank.*got Linear"):
        CompressRestore(torch.nn.Linear(2, 2), (20, 60), 3)
    with pytest.raises(InputError, match=r"draw\b.*'x'"):
        CompressRestore(bank, (20, 60), 1)(images, draw="x")


@pytest.mark.parametrize("kwargs, needle", [
    (dict(qf_range=(20,)), r"qf_range.*\(20,\)"),
    (dict(n_iter=101), r"n_iter.*\[1, 100\].*101"),
])
def test_defense_bounds(kwargs, needle):
    """A 1-tuple QF range is refused (not run as a fixed QF), and N is bounded (N=99999 would run until killed)."""
    with pytest.raises(InputError, match=needle):
        CompressRestore(None, **{"qf_range": (20, 60), "n_iter": 1, **kwargs}, mode="jpeg")


def test_a_qf_range_past_the_banks_qfs_is_refused_at_the_edge(bank):
    assert bank.qfs == (10, 20, 40, 60)
    with pytest.raises(InputError, match=r"qf_range \(5, 95\) goes past the bank's QFs \(10, 20, 40, 60\): every QF "
                                         r"beyond 60 .*QF-60 generator.*within \(10, 60\)"):
        CompressRestore(bank, (5, 95), 1, mode="dynamic")
    with pytest.raises(InputError, match=r"beyond 10 .*QF-10 generator"):
        CompressRestore(bank, (5, 60), 1, mode="dynamic")
    for mode in ("static", "jpeg"):  # JPEG at any QF is real; the static generator is not per QF
        assert CompressRestore(bank, (5, 95), 1, mode=mode).qf_range == (5, 95)
    assert CompressRestore(bank, (10, 60), 1, mode="dynamic").qf_range == (10, 60)


@pytest.mark.parametrize("draw", [2**63, -1, 1.0])
def test_draw_bounds(draw):
    """A draw is an integer the QF hash can hold: 2**63 overflows int64, so it is the kit's error."""
    defense = CompressRestore(None, (20, 60), 1, mode="jpeg")
    with pytest.raises(InputError, match=r"draw.*" + str(draw).replace(".", r"\.")):
        defense(torch.rand(2, 1, 8, 8), draw=draw)


def test_variant_n_bounded():
    from cnr.config import Grid
    from cnr.defenses.compress_restore import parse_variant

    assert parse_variant("dynamic-N100", Grid()).n_iter == 100
    with pytest.raises(InputError, match=r"dynamic-N99999.*99999"):
        parse_variant("dynamic-N99999", Grid())

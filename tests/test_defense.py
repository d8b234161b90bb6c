"""CompressRestore: modes, seeded per-image QF draws, the three backward passes, and its contract."""
from __future__ import annotations

import pytest
import torch

from cnr.argan import RestorerBank, build_generator
from cnr.data import load_fmnist
from cnr.defense import CompressRestore, Defended
from cnr.errors import InputError
from cnr.jpeg import jpeg_roundtrip


@pytest.fixture(scope="module")
def bank() -> RestorerBank:
    torch.manual_seed(0)
    gens = {qf: build_generator("quick", in_channels=1).eval() for qf in (10, 20, 40, 60)}
    return RestorerBank(gens, static=build_generator("quick", in_channels=1).eval()).eval()


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

"""The 'expected restorer' backward: the drawn per-QF generator forward, the static generator's gradient backward."""
from __future__ import annotations

import torch

from cnr.argan import RestorerBank
from cnr.data import load_fmnist
from cnr.defenses import CompressRestore
from cnr.paths import WEIGHTS_DIR


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

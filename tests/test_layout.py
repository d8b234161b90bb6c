"""Memory layout and precision options: channels_last classifiers and generators compute what NCHW ones compute, to
float rounding; under bf16 autocast the defense keeps its images float32 between iterations."""
from __future__ import annotations

import pytest
import torch

from cnr.argan.bank import RestorerBank
from cnr.classifiers import load_classifier
from cnr.paths import WEIGHTS_DIR

SHAPES = {"fmnist-cnn": (16, 1, 28, 28), "efficientnet-lite0": (2, 3, 224, 224)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_channels_last_classifier_gives_the_nchw_logits_and_gradients(name):
    nchw, cl = load_classifier(name), load_classifier(name, channels_last=True)
    conv = next(m for m in cl.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(SHAPES[name], generator=torch.Generator().manual_seed(0))
    grads = []
    for model in (nchw, cl):
        xg = x.clone().requires_grad_(True)
        out = model(xg)
        out.logsumexp(1).sum().backward()
        grads.append((out.detach(), xg.grad))
    (a, ga), (b, gb) = grads
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    assert torch.equal(a.argmax(1), b.argmax(1))
    # gradients: rounding moves a few ReLU6 kinks of EfficientNet, so compare directions, not every pixel
    assert torch.nn.functional.cosine_similarity(ga.flatten(1), gb.flatten(1)).min() > 0.9999


@pytest.mark.parametrize("family, shape", [("fmnist-quick", (8, 1, 28, 28)), ("natural-quick-residual", (2, 3, 64, 64))])
def test_a_bank_loads_in_either_layout_with_the_same_restorations(family, shape):
    folder = WEIGHTS_DIR / f"argan-{family}"
    default, nchw = RestorerBank.load(folder), RestorerBank.load(folder, channels_last=False)
    assert default.generator_for(40).tail.weight.is_contiguous(memory_format=torch.channels_last)  # CPU default
    assert nchw.generator_for(40).tail.weight.is_contiguous()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    qf = torch.tensor([20, 40] * (shape[0] // 2))
    with torch.no_grad():
        torch.testing.assert_close(nchw.restore(x, qf), default.restore(x, qf), atol=1e-5, rtol=0)


def test_under_bf16_autocast_the_defense_runs_and_its_restorations_stay_float32():
    from cnr import CompressRestore, Defended

    bank = RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert bank.generator_for(40)(x).dtype == torch.float32
        logits = Defended(CompressRestore(bank, (20, 60), 3), load_classifier("fmnist-cnn"))(x, draw=1)
    assert logits.shape == (4, 10) and torch.isfinite(logits.float()).all()

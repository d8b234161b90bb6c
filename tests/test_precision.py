"""cnr.precision: bf16 autocast around the classifier and each restorer, float32 between them, as a profile asks."""
from __future__ import annotations

import pytest
import torch

from cnr.eval.evaluator import make_evaluator
from cnr.precision import Autocast, with_compute
from cnr.run import resolve_run


def test_autocast_runs_its_module_in_bf16_and_hands_float32_back():
    seen = []
    conv = torch.nn.Conv2d(1, 2, 3)
    conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    conv.in_channels_note = 1
    wrapped = Autocast(conv.eval())
    assert not wrapped.training
    x = torch.rand(2, 1, 8, 8)
    out = wrapped(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    assert torch.allclose(out, conv(x), atol=0.05) and not torch.equal(out, conv(x))
    assert wrapped.in_channels == 1 and wrapped.in_channels_note == 1  # the inner module's attributes read through
    with pytest.raises(AttributeError, match="no_such_attribute"):
        _ = wrapped.no_such_attribute


def test_fp32_leaves_the_models_as_they_are(run):
    ev = make_evaluator(run, n=4)
    clf, bank = with_compute(ev.classifier, ev.bank)
    assert clf is ev.classifier and bank is ev.bank and not isinstance(clf, Autocast)


def test_a_bf16_profile_wraps_the_classifier_and_every_restorer_and_keeps_the_images(run):
    """The images are chosen in float32; the classifier and each generator run in bf16; the defense's checks between
    them see float32 images; a BPDA gradient flows through every wrapped module."""
    fp32 = make_evaluator(run, n=8)
    bf16 = make_evaluator(resolve_run("smoke", {"compute.precision": "bf16", "compute.channels_last": True},
                                      results_root=run.results_root), n=8)
    assert torch.equal(fp32.x, bf16.x) and torch.equal(fp32.y, bf16.y)
    assert isinstance(bf16.classifier, Autocast) and bf16.classifier.cnr_input is fp32.classifier.cnr_input
    assert all(isinstance(g, Autocast) for g in bf16.bank.generators.values())
    assert bf16.bank.static_generator is None or isinstance(bf16.bank.static_generator, Autocast)
    from cnr.defenses import Defended, defense_by_name

    spec = defense_by_name(run.profile, "dynamic-N3")
    models = [Defended(spec.build(ev.bank, grad="bpda", seed=0), ev.classifier) for ev in (fp32, bf16)]
    x = fp32.x.clone().requires_grad_(True)
    logits = models[1](x, draw=0)
    logits.sum().backward()
    assert logits.dtype == torch.float32 and x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():
        ref = models[0](fp32.x, draw=0)
    assert (ref.argmax(1) == logits.argmax(1)).float().mean() >= 0.75
    assert (ref - logits).abs().max() > 0  # bf16 really ran


def test_precision_is_a_checked_setting():
    from cnr.errors import InputError

    with pytest.raises(InputError, match=r"compute\.precision.*fp16"):
        resolve_run("smoke", {"compute.precision": "fp16"})


def test_bf16_restorers_leave_the_classifier_in_float32(run):
    ev = make_evaluator(resolve_run("smoke", {"compute.precision": "bf16-restorers"}, results_root=run.results_root),
                        n=4)
    assert not isinstance(ev.classifier, Autocast)
    assert all(isinstance(g, Autocast) for g in ev.bank.generators.values())

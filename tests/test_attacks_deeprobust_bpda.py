"""cnr.attacks.deeprobust_bpda: the batched reimplementation follows DeepRobust's BPDA_attack step for step."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnr.attacks import attack_params, run_attack
from cnr.attacks.deeprobust_bpda import IMAGENET_MEAN, IMAGENET_STD
from cnr.errors import InputError


def tiny_classifier(channels: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 10, 5)).eval()


def reference_bpda(model_n, image_n: torch.Tensor, label: int, step_size: float, iterations: int, clip):
    """DeepRobust's BPDA_attack for one image, written as its source runs it (identity transform): a stray MSE
    backward, then CE + relative MSE backward into the same .grad, a plain gradient step, its clip; with the
    torch 2.13 fix (MSELoss on a zeros tensor, not the int 0)."""
    target = torch.tensor([label])
    mse = nn.MSELoss()
    adv = image_n.clone()
    for _ in range(iterations):
        adv_def = adv.detach().clone().requires_grad_()
        mse(torch.zeros_like(adv_def), adv_def).backward()
        loss = (nn.CrossEntropyLoss()(model_n(adv_def), target)
                + mse(torch.zeros_like(adv_def), image_n - adv_def) / mse(torch.zeros_like(image_n), image_n))
        loss.backward()
        adv = torch.from_numpy(clip(adv.detach().numpy() - step_size * adv_def.grad.numpy()))
    return adv


def clip_pixels(a: np.ndarray) -> np.ndarray:
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def clip_imagenet(a: np.ndarray) -> np.ndarray:
    """DeepRobust's clip_bound: back to pixels, into [0, 1], normalized again."""
    mean, std = np.array(IMAGENET_MEAN).reshape(3, 1, 1), np.array(IMAGENET_STD).reshape(3, 1, 1)
    return ((np.clip(a * std + mean, 0.0, 1.0) - mean) / std).astype(np.float32)


@pytest.mark.parametrize("space, channels, step_size", [("pixels", 1, 1.0), ("imagenet", 3, 1.0),
                                                         ("pixels", 1, 0.05)])
def test_every_step_is_deeprobusts_and_it_never_stops_early(space, channels, step_size):
    model = tiny_classifier(channels)
    x = torch.rand(3, channels, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        runner_up = model(x).topk(2, 1).indices[:, 1]
    y = model(x).argmax(1).detach()
    res = run_attack("deeprobust_bpda", model, x, y, float("inf"), "l2", iterations=7, step_size=step_size,
                     target="runner-up", space=space)
    if space == "pixels":
        mean, std, clip = torch.zeros(()), torch.ones(()), clip_pixels
    else:
        mean, std, clip = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1), \
            clip_imagenet
    for i in range(len(x)):
        def model_n(z):
            return model(z * std + mean)
        ref = reference_bpda(model_n, ((x[i] - mean) / std)[None], int(runner_up[i]), step_size, 7, clip)
        assert torch.allclose(res.x_adv[i], (ref[0] * std + mean).clamp(0, 1), atol=2e-5)
    assert res.n_backward == 7 * len(x)  # all iterations, fooled or not: no early stop
    with torch.no_grad():
        assert torch.equal(res.success, model(res.x_adv).argmax(1) != y)
    size = (res.x_adv - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert torch.allclose(res.extra["output_l2"], size, atol=1e-6)
    assert torch.allclose(res.extra["deeprobust_l2"], size ** 2, atol=1e-6)
    assert torch.equal(torch.isfinite(res.extra["pert_norm"]), res.success)


def test_given_the_true_label_it_descends_that_labels_loss():
    model = tiny_classifier(1)
    x = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    y = model(x).argmax(1).detach()
    res = run_attack("deeprobust_bpda", model, x, y, float("inf"), "l2", step_size=5.0)
    loss = nn.CrossEntropyLoss(reduction="none")
    with torch.no_grad():
        assert (loss(model(res.x_adv), y) <= loss(model(x), y) + 1e-6).all()
    assert not res.success.any()


def test_a_random_target_is_a_wrong_class_and_the_settings_are_checked():
    model = tiny_classifier(1)
    x = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    y = model(x).argmax(1).detach()
    res = run_attack("deeprobust_bpda", model, x, y, 0.1, "l2", target="random", step_size=50.0, iterations=20)
    assert (res.x_adv - x).flatten(1).norm(dim=1).div(x.flatten(1).norm(dim=1)).max() <= 0.1 * (1 + 1e-4)
    with pytest.raises(InputError, match="target"):
        attack_params("deeprobust_bpda", target="next")
    with pytest.raises(InputError, match="RGB"):
        run_attack("deeprobust_bpda", model, x, y, float("inf"), "l2", space="imagenet")

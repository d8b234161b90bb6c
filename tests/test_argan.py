"""cnr.argan: generator contract, discriminator, losses, training (beats JPEG, resumes exactly, DDP, refuses bad
arguments), the bank (loading, layout, damaged folders), restore."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import corpus_or_skip, mentions
from safetensors.torch import load_file

from cnr.argan import PRESETS, STATIC, Generator, PatchDiscriminator, RestorerBank, build_generator, psnr, ssim
from cnr.argan.generator import ConvBN
from cnr.argan.losses import PerceptualLoss, adversarial_d_loss, adversarial_g_loss, pixel_loss, ssim_loss
from cnr.argan.sources import NATURAL_SOURCE, ImageSource
from cnr.argan.train import train_argan
from cnr.classifiers import FashionCNN
from cnr.errors import InputError, WeightsError
from cnr.paths import WEIGHTS_DIR
from cnr.run import resolve_run
from cnr.training import load_bank
from cnr.weights import read_metadata, tensor_checksum

REPO = Path(__file__).resolve().parent.parent
TINY = dict(dataset="fmnist", preset="tiny", batch=16, perceptual=None, progress=False, n_val=64)


# --- generator ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["tiny", "quick", "quick-residual", "tiny-fullres"])
@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 1, 27, 31), (1, 1, 1, 1), (2, 1, 9, 4)])
def test_generator_keeps_shape_and_range(preset, shape):
    g = (build_generator("tiny", in_channels=1, pool=0) if preset == "tiny-fullres"
         else build_generator(preset, in_channels=1)).eval()
    y = g(torch.rand(shape))
    assert y.shape == shape and y.dtype == torch.float32
    assert 0 <= y.min() and y.max() <= 1


def test_generator_rgb_train_mode_and_gradient():
    g = build_generator("tiny", in_channels=3).train()
    x = torch.rand(4, 3, 17, 20, requires_grad=True)
    g(x).square().mean().backward()
    assert x.grad.shape == x.shape and x.grad.abs().sum() > 0


def test_generator_channel_and_rank_errors():
    g = build_generator("tiny", in_channels=1)
    with pytest.raises(InputError, match=r"generator trained for 1 channel\(s\), got 3"):
        g(torch.rand(2, 3, 28, 28))
    with pytest.raises(InputError, match="NCHW"):
        g(torch.rand(1, 28, 28))


def test_presets_registry():
    assert PRESETS["paper"] == dict(channels=64, blocks=16)
    paper = build_generator("paper", 3)
    assert (paper.channels, paper.blocks, paper.in_channels) == (64, 16, 3)
    assert len(paper.body) == 16 and paper.up[0].out_channels == 256 and paper.tail.kernel_size == (1, 1)
    quick = build_generator("quick", 1)
    assert sum(p.numel() for p in quick.parameters()) < sum(p.numel() for p in paper.parameters()) / 4
    assert build_generator("quick", 1, blocks=2).blocks == 2
    with pytest.raises(InputError, match="valid generator presets: paper, quick"):
        build_generator("huge", 1)


def test_residual_generator_starts_as_identity_and_round_trips_its_architecture():
    from cnr.argan.generator import generator_from_architecture

    g = build_generator("quick-residual", 3).eval()
    x = torch.rand(2, 3, 21, 30)
    torch.testing.assert_close(g(x), x)  # zero-initialized correction
    arch = g.architecture()
    assert arch["residual"] is True and generator_from_architecture(arch).residual
    assert "residual" not in build_generator("quick", 3).architecture()  # old files keep their metadata


def test_full_resolution_generator_records_pool_only_when_off():
    from cnr.argan.generator import generator_from_architecture

    g = build_generator("quick-residual", 3, pool=0).eval()
    x = torch.rand(2, 3, 21, 30)
    torch.testing.assert_close(g(x), x)
    assert not any(isinstance(m, torch.nn.AvgPool2d) for m in g.modules())
    arch = g.architecture()
    assert arch["pool"] is False and not generator_from_architecture(arch).pool
    assert "pool" not in build_generator("quick-residual", 3).architecture()  # shipped files still match


def test_eval_mode_folds_batchnorm_exactly():
    torch.manual_seed(0)
    g = build_generator("quick", 1).train()
    with torch.no_grad():
        for _ in range(3):  # non-trivial running statistics
            g(torch.rand(8, 1, 28, 28))
    g.eval()
    x = torch.rand(4, g.channels, 14, 14)
    for m in g.modules():
        if isinstance(m, ConvBN):
            torch.testing.assert_close(m(x), m.bn(m.conv(x)), atol=1e-5, rtol=1e-5)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(g(x), g(torch.cat([x, torch.rand(5, 1, 28, 28)]))[:3], atol=1e-5, rtol=1e-5)


def _unfolded_each_call(m: ConvBN, x: torch.Tensor) -> torch.Tensor:
    bn = m.bn
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    bias = (m.conv.bias - bn.running_mean) * scale + bn.bias
    return F.conv2d(x, m.conv.weight * scale.view(-1, 1, 1, 1), bias, padding=m.conv.padding)


def test_a_frozen_generator_reuses_its_folded_batchnorm_bit_for_bit_until_its_weights_change():
    torch.manual_seed(0)
    g = build_generator("quick", 1).eval().requires_grad_(False)
    m = next(m for m in g.modules() if isinstance(m, ConvBN))
    with torch.no_grad():
        m.bn.running_var.uniform_(0.5, 2)
    x = torch.rand(4, g.channels, 14, 14)
    first, again = m(x), m(x)
    assert m._folded is not None and torch.equal(first, again) and torch.equal(again, _unfolded_each_call(m, x))
    with torch.no_grad():
        m.conv.weight.mul_(2)  # in place: the folded copy must follow
    assert torch.equal(m(x), _unfolded_each_call(m, x)) and not torch.equal(m(x), first)
    m.bn.load_state_dict({**m.bn.state_dict(), "running_mean": torch.ones_like(m.bn.running_mean)})
    assert torch.equal(m(x), _unfolded_each_call(m, x))
    m.requires_grad_(True)  # a trainable conv in eval mode: the gradient reaches its weight through the fold
    m(x).sum().backward()
    assert m._folded is None and m.conv.weight.grad is not None and m.bn.weight.grad is not None


# --- discriminator -----------------------------------------------------------------------------------
def test_discriminator_patch_logits():
    d = PatchDiscriminator(in_channels=1)
    c, x = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28, requires_grad=True)
    out = d(c, x)
    assert out.shape == (2, 1, 7, 7)
    out.mean().backward()
    assert x.grad is not None
    assert PatchDiscriminator(3, layers=3)(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)).shape == (1, 1, 8, 8)
    with pytest.raises(InputError, match="discriminator takes two"):
        d(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 14, 14))


# --- losses and metrics --------------------------------------------------------------------------------
def test_losses_and_metrics():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    assert ssim_loss(x, x).item() < 1e-6 and ssim_loss(x, y).item() > 0.003  # (1 - ~0.985) / 2
    assert ssim_loss(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5)).item() > 0  # tiny images: smaller window
    assert abs(ssim(x, x).item() - 1) < 1e-6
    assert pixel_loss(x, y, "l2") < pixel_loss(x, y, "l1")
    with pytest.raises(InputError, match="valid: l1, l2"):
        pixel_loss(x, y, "huber")
    # PSNR: an MSE of 1e-4 is 40 dB
    assert abs(psnr(torch.full((1, 1, 8, 8), 0.51), torch.full((1, 1, 8, 8), 0.5)).item() - 40) < 1e-3
    assert psnr(x, y, "none").shape == (4,)
    # SSIM equals scikit-image's Gaussian-window SSIM
    from skimage.metrics import structural_similarity

    ref = np.mean([structural_similarity(x[i, 0].numpy(), y[i, 0].numpy(), gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0) for i in range(4)])
    assert abs(ssim(y, x).item() - ref) < 1e-4
    # adversarial terms: a discriminator that separates well has a small loss, and fools nobody
    hi, lo = torch.full((4, 1, 7, 7), 5.0), torch.full((4, 1, 7, 7), -5.0)
    assert adversarial_d_loss(hi, lo) < 0.02 < adversarial_d_loss(lo, hi)
    assert adversarial_g_loss(hi) < 0.01 < adversarial_g_loss(lo)
    # perceptual: zero for identical images, frozen network, gradient reaches the image
    net = FashionCNN()
    perc = PerceptualLoss(net.features, net).train()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert perc(x, x).item() < 1e-8
    yy = y.clone().requires_grad_()
    perc(yy, x).backward()
    assert yy.grad.abs().sum() > 0


def _old_argan_lr(step: int, total: int, peak: float, warmup: float = 0.03, floor: float = 0.05) -> float:
    """cnr.argan.train._lr_at before the restructure: what the shipped banks were trained with."""
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (step + 1) / w
    t = (step - w) / max(1, total - w)
    return peak * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * t)))


# --- training ----------------------------------------------------------------------------------------
def test_short_training_lowers_loss_beats_jpeg_and_saves_metadata(tmp_path):
    out = tmp_path / "qf05.safetensors"
    kw = {**TINY, "perceptual": FashionCNN()}  # a random frozen feature net exercises the perceptual term
    g, hist = train_argan(5, pretrain_steps=200, gan_steps=20, lr=3e-3, val_every=40, seed=0, out_path=out,
                          command="pytest", **kw)
    assert [h["step"] for h in hist] == [40, 80, 120, 160, 200, 220] and hist[-1]["phase"] == "gan"
    assert hist[-1]["loss_pixel"] < hist[0]["loss_pixel"]
    assert "loss_adv" in hist[-1] and "loss_perceptual" in hist[-1] and "loss_d" in hist[-1]
    assert hist[-1]["psnr"] > hist[-1]["psnr_jpeg"] + 0.3, hist[-1]
    assert not g.training
    meta = read_metadata(out)
    assert meta["kind"] == "argan-generator" and meta["qf"] == 5 and meta["dataset"] == "fmnist"
    assert meta["architecture"] == dict(name="argan-generator", preset="tiny", in_channels=1, channels=8, blocks=1)
    assert meta["steps"] == 220 and meta["seed"] == 0 and meta["command"] == "pytest" and meta["train_seconds"] > 0
    assert meta["val"]["psnr"] == hist[-1]["psnr"] and meta["losses"]["adversarial"] == 1e-3
    assert all(t.dtype == torch.float16 for k, t in load_file(out).items() if "num_batches" not in k)
    assert not out.with_suffix(".ckpt.safetensors").exists()


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, capsys):
    kw = {**TINY, "n_val": 16, "pretrain_steps": 5, "gan_steps": 4, "ckpt_every": 3, "val_every": 4, "seed": 3}
    a, hist_a = train_argan("static", out_path=tmp_path / "a.safetensors", **kw)
    ckpt = tmp_path / "b.ckpt.safetensors"
    _, partial = train_argan("static", out_path=tmp_path / "b.safetensors", stop_after=7, **kw)  # into the GAN phase
    assert ckpt.is_file() and not (tmp_path / "b.safetensors").exists() and len(partial) == 1
    b, hist_b = train_argan("static", out_path=tmp_path / "b.safetensors", **kw)
    assert "resuming" in capsys.readouterr().out and not ckpt.exists()
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k
    assert hist_a == hist_b
    assert read_metadata(tmp_path / "b.safetensors")["qf"] == STATIC
    # a checkpoint of another configuration is ignored, not loaded
    train_argan(10, out_path=tmp_path / "c.safetensors", stop_after=3, **kw)
    train_argan(20, out_path=tmp_path / "c.safetensors", stop_after=3, **kw)
    assert "ignoring" in capsys.readouterr().out


def test_training_argument_errors():
    with pytest.raises(InputError, match="1..100"):
        train_argan(0, pretrain_steps=1, gan_steps=0, **TINY)
    with pytest.raises(InputError, match="'static'"):
        train_argan("dynamic", pretrain_steps=1, gan_steps=0, **TINY)
    with pytest.raises(InputError, match="channel"):
        train_argan(10, pretrain_steps=1, gan_steps=0, in_channels=3, **TINY)


def test_natural_patches_source_and_training_step():
    corpus_or_skip()
    src = ImageSource("natural", 3, 32, seed=0)
    x, _ = src.batch(5, 8, rank=1, world=2)
    x_all, _ = src.batch(5, 8)
    assert x.shape == (4, 3, 32, 32) and torch.equal(x, x_all[4:])
    assert src.validation(6).shape == (6, 3, 32, 32)
    g, hist = train_argan(20, dataset="natural", preset="tiny", pretrain_steps=2, gan_steps=1, batch=4, patch=32,
                          n_val=8, perceptual="auto", progress=False)
    assert g.in_channels == 3 and hist[-1]["step"] == 3


def test_natural_patches_come_from_the_corpus_train_split_only():
    corpus_or_skip()
    from cnr.argan.sources import NATURAL_SOURCE
    from cnr.data.photo_corpus import corpus_patches

    src = ImageSource("natural", 3, 48, seed=0)
    x, g = src.batch(7, 4)
    seed = int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(7)))
    assert torch.equal(x, corpus_patches("train", 4, 48, seed=seed))
    assert torch.equal(src.validation(3), corpus_patches("validation", 3, 48, seed=10_007))
    assert "photo-corpus" in NATURAL_SOURCE and "train" in NATURAL_SOURCE


def test_warm_start_fine_tunes_from_a_finished_file_and_says_so(tmp_path):
    corpus_or_skip()
    kw = dict(dataset="natural", preset="quick-residual", gan_steps=0, batch=4, patch=32, n_val=8, progress=False)
    static, _ = train_argan("static", pretrain_steps=2, out_path=tmp_path / "static.safetensors", **kw)
    meta = read_metadata(tmp_path / "static.safetensors")
    assert meta["source"].startswith("photo-corpus-v1:train")
    g, _ = train_argan(10, pretrain_steps=1, init_from=tmp_path / "static.safetensors", **{**kw, "lr": 1e-12})
    # one step at a vanishing rate: the fp16 file's weights, i.e. the generator started from the static one
    torch.testing.assert_close(g.state_dict(), {k: v.half().to(v.dtype) for k, v in static.state_dict().items()})
    train_argan(10, pretrain_steps=1, out_path=tmp_path / "qf10.safetensors", init_from=tmp_path / "static.safetensors",
                **kw)
    init = read_metadata(tmp_path / "qf10.safetensors")["init_from"]
    assert (init["file"], init["qf"], init["steps"], init["dataset"]) == ("static.safetensors", "static", 2, "natural")
    assert len(init["sha256"]) == 64
    with pytest.raises(InputError, match="architecture"):
        train_argan(10, pretrain_steps=1, init_from=tmp_path / "static.safetensors", **{**kw, "preset": "quick"})


DDP_SCRIPT = """
import os, sys, torch
from safetensors.torch import save_file
from cnr.argan.train import train_argan
torch.set_num_threads(1)
out = sys.argv[1]
g, _ = train_argan(10, dataset="fmnist", preset="tiny", pretrain_steps=3, gan_steps=2, batch=8, seed=1,
                   perceptual=None, progress=False, n_val=16, out_path=os.path.join(out, "qf10.safetensors"),
                   device="cpu")
save_file({k: v.contiguous() for k, v in g.state_dict().items()}, os.path.join(out, f"rank{os.environ['RANK']}.st"))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(script), str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    r0, r1 = load_file(tmp_path / "rank0.st"), load_file(tmp_path / "rank1.st")
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    meta = read_metadata(tmp_path / "qf10.safetensors")  # written by rank 0 only
    assert meta["world_size"] == 2 and meta["steps"] == 5


# --- bank ------------------------------------------------------------------------------------------------
def _tiny(qf, dataset="fmnist", channels=1, seed=0) -> Generator:
    torch.manual_seed(seed)
    g = build_generator("tiny", channels).eval()
    g.meta = {"dataset": dataset, "qf": qf, "architecture": {"preset": "tiny"}}
    return g


@pytest.fixture()
def bank_folder(tmp_path):
    bank = RestorerBank({q: _tiny(q, seed=q) for q in (5, 10, 20)}, static=_tiny(STATIC, seed=99))
    bank.save(tmp_path)
    return tmp_path


def test_bank_save_load_nearest(bank_folder):
    names = sorted(p.name for p in bank_folder.iterdir())
    assert names == ["qf05.safetensors", "qf10.safetensors", "qf20.safetensors", "static.safetensors"]
    bank = RestorerBank.load(bank_folder, dataset="fmnist", in_channels=1)
    assert bank.qfs == (5, 10, 20) and bank.has_static and not bank.training
    assert [bank.nearest(q) for q in (1, 5, 7, 8, 15, 16, 60)] == [5, 5, 5, 10, 20, 20, 20]  # ties go up
    qs = torch.arange(1, 101)
    assert bank.nearest_tensor(qs).tolist() == [bank.nearest(q) for q in qs.tolist()]
    assert bank.generator_for(14) is bank.generators["qf10"]
    x = torch.rand(2, 1, 28, 28)
    again = RestorerBank.load(bank_folder)  # dataset/channels taken from the first file
    torch.testing.assert_close(again.restore(x, 10), bank.generator_for(10)(x))
    torch.testing.assert_close(bank.restore(x, STATIC), bank.static(x))
    assert not torch.allclose(bank.restore(x, 5), bank.restore(x, 20))
    # saved fp16 weights reload to the same outputs
    bank.save(bank_folder / "copy")
    torch.testing.assert_close(RestorerBank.load(bank_folder / "copy").restore(x, 20), bank.restore(x, 20))


def test_bank_metadata_mismatches_name_file_expected_and_found(bank_folder, tmp_path):
    with pytest.raises(WeightsError, match=r"qf05\.safetensors\b.*dataset='natural'.*dataset='fmnist'"):
        RestorerBank.load(bank_folder, dataset="natural")
    with pytest.raises(WeightsError, match="in_channels=3.*in_channels=1"):
        RestorerBank.load(bank_folder, in_channels=3)
    (bank_folder / "qf10.safetensors").rename(bank_folder / "qf30.safetensors")
    with pytest.raises(WeightsError, match=r"qf30\.safetensors\b.*qf=30.*qf=10"):
        RestorerBank.load(bank_folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsError, match="no AR-GAN weights.*Train it with: cnr train-argan"):
        RestorerBank.load(empty, regenerate="cnr train-argan --qf all")
    other = tmp_path / "mixed"
    RestorerBank({5: _tiny(5)}).save(other)
    RestorerBank({10: _tiny(10, dataset="natural")}).save(tmp_path / "nat")
    (tmp_path / "nat" / "qf10.safetensors").rename(other / "qf10.safetensors")
    with pytest.raises(WeightsError, match="dataset='fmnist'.*dataset='natural'"):
        RestorerBank.load(other)
    with pytest.raises(WeightsError, match="no static generator"):
        _ = RestorerBank({5: _tiny(5)}).static  # the property raises
    with pytest.raises(InputError, match="disagree on input channels"):
        RestorerBank({5: _tiny(5), 10: _tiny(10, channels=3)})


def test_restore_per_image_qf_equals_per_group_calls(bank_folder):
    bank = RestorerBank.load(bank_folder)
    torch.manual_seed(0)
    x = torch.rand(12, 1, 28, 28, requires_grad=True)
    qf = torch.tensor([5, 60, 7, 10, 12, 30, 5, 8, 40, 15, 9, 20])
    calls = []
    hooks = [g.register_forward_hook(lambda m, i, o: calls.append(len(i[0]))) for g in bank.generators.values()]
    out = bank.restore(x, qf)
    # one batched call per generator (5: 5,7,5; 10: 10,12,8,9; 20: the rest, 15 a tie)
    assert sorted(calls) == [3, 4, 5]
    for h in hooks:
        h.remove()
    trained = bank.nearest_tensor(qf)
    for q in (5, 10, 20):
        sel = trained == q
        torch.testing.assert_close(out[sel], bank.generators[f"qf{q:02d}"](x[sel]), atol=1e-6, rtol=1e-5)
    out.sum().backward()
    assert x.grad.abs().sum() > 0
    torch.testing.assert_close(bank(x, torch.full((12,), 10)), bank.restore(x, 10))
    with pytest.raises(InputError, match="per-image QFs must have shape"):
        bank.restore(x, torch.tensor([5, 10]))


# --- pipeline --------------------------------------------------------------------------------------------
def test_shipped_banks_load_for_a_run():
    run = resolve_run("smoke")
    for family, channels, preset in (("fmnist", 1, "quick"), ("natural", 3, "quick-residual")):
        bank = load_bank(run, family)
        assert run.bank_dir(family) == WEIGHTS_DIR / f"argan-{family}-{preset}"
        assert bank.qfs == (5, 10, 20, 30, 40, 60) and bank.has_static and bank.in_channels == channels
        assert {g.meta["dataset"] for g in bank.generators.values()} == {family}
        assert {g.meta["architecture"]["preset"] for g in bank.generators.values()} == {preset}
    natural = load_bank(run, "natural")  # trained on the corpus's train photos; per-QF files warm-started
    assert {g.meta["source"] for g in [*natural.generators.values(), natural.static]} == {NATURAL_SOURCE}
    assert {g.meta["init_from"]["file"] for g in natural.generators.values()} == {"static.safetensors"}
    assert {g.meta["init_from"]["sha256"] for g in natural.generators.values()} == {
        tensor_checksum(load_file(str(run.bank_dir("natural") / "static.safetensors")))}


def test_shipped_paper_bank_is_the_study_profiles_and_says_how_it_was_made():
    run = resolve_run("study")
    bank = load_bank(run, "fmnist")
    assert run.bank_dir("fmnist") == WEIGHTS_DIR / "argan-fmnist-paper"
    assert bank.qfs == (5, 10, 20, 30, 40, 60) and bank.has_static and bank.in_channels == 1
    for label, g in [*bank.generators.items(), (STATIC, bank.static)]:
        m = g.meta
        assert m["architecture"] == {"blocks": 16, "channels": 64, "in_channels": 1, "name": "argan-generator",
                                     "preset": "paper"}, label
        assert m["command"] == f"cnr train-argan --dataset fmnist --qf {m['qf']} --profile study", label
        assert m["seed"] == 0 and m["train_seconds"] > 0 and m["steps"] == m["pretrain_steps"] + m["gan_steps"]
        assert m["val"]["psnr"] > m["val"]["psnr_jpeg"], label  # every generator restores its validation images
    # each file was trained for the QF it is loaded as
    assert [g.meta["qf"] for g in bank.generators.values()] == list(bank.qfs) and bank.static.meta["qf"] == STATIC
    shipped = sum(f.stat().st_size for f in WEIGHTS_DIR.rglob("*.safetensors"))
    assert shipped < 40e6  # the kit's budget for weights in git


FMNIST_BANK = WEIGHTS_DIR / "argan-fmnist-quick"


def _copy_bank(tmp_path):
    folder = tmp_path / "bank"
    shutil.copytree(FMNIST_BANK, folder)
    return folder


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("kwargs, needle", [  # the argument and the value given
    (dict(pretrain_steps=-1), ("train_argan", "'pretrain_steps'", "-1")),
    (dict(pretrain_steps=0, gan_steps=0), "at least one step"),
    (dict(batch=0), ("train_argan", "'batch'", "0")),
    (dict(n_val=True), ("'n_val'", "True")),
])
def test_argan_training_counts(tmp_path, kwargs, needle):
    from cnr.argan.train import train_argan

    with pytest.raises(InputError) as e:
        train_argan(10, out_path=tmp_path / "w" / "g.safetensors", progress=False, **kwargs)
    assert mentions(str(e.value), needle) and not (tmp_path / "w").exists()


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("kwargs, needle", [  # the argument and the value given (text is not parsed here)
    (dict(lr="1e-3"), ("train_argan", "'lr'", "'1e-3'")),
    (dict(lr=float("inf")), ("'lr'", "inf")),
    (dict(amp="maybe"), ("train_argan", "'amp'", "'maybe'")),
    (dict(pixel="L1"), ("train_argan", "'pixel'", "'L1'")),
])
def test_argan_training_arguments_parsed_strictly(tmp_path, kwargs, needle):
    from cnr.argan.train import train_argan

    with pytest.raises(InputError) as e:
        train_argan(10, out_path=tmp_path / "g.safetensors", pretrain_steps=1, gan_steps=0, progress=False, **kwargs)
    assert mentions(str(e.value), needle), str(e.value)


def test_bank_file_renamed_to_another_qf(tmp_path):
    from cnr import RestorerBank

    folder = _copy_bank(tmp_path)
    shutil.copy(folder / "qf05.safetensors", folder / "qf10.safetensors")
    with pytest.raises(WeightsError, match=r"qf10\.safetensors\b.*qf=10.*qf=5"):
        RestorerBank.load(folder)


def test_generator_metadata_whose_architecture_is_not_an_object(tmp_path):
    from safetensors.torch import save_file

    from cnr.argan.bank import load_generator

    path = tmp_path / "g.safetensors"
    save_file({"a": torch.zeros(1)}, str(path), metadata={"cnr": json.dumps({"kind": "argan-generator",
                                                                                 "architecture": [16, 2]})})
    with pytest.raises(WeightsError, match=r"not an AR-GAN generator .*architecture=\[16, 2\]"):
        load_generator(path)


def test_bank_folder_with_names_that_are_not_qfNN(tmp_path):
    import shutil
    import warnings

    from cnr import RestorerBank
    from cnr.errors import WeightsError
    from cnr.paths import WEIGHTS_DIR

    folder = tmp_path / "bank"
    shutil.copytree(WEIGHTS_DIR / "argan-fmnist-quick", folder)
    shutil.copy(folder / "qf05.safetensors", folder / "qf5x.safetensors")
    (folder / "qfabc.safetensors").write_bytes(b"not weights")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        bank = RestorerBank.load(folder)
    assert bank.qfs == (5, 10, 20, 30, 40, 60)
    assert any("qf5x.safetensors, qfabc.safetensors" in str(w.message) for w in seen)
    # names are matched exactly: near misses are never read as a generator, and are named
    shutil.copy(folder / "qf05.safetensors", folder / "qf000.safetensors")
    shutil.copy(folder / "qf05.safetensors", folder / "qf5.safetensors")
    with pytest.warns(UserWarning, match=r"qf000\.safetensors, qf5\.safetensors"):
        assert RestorerBank.load(folder).qfs == (5, 10, 20, 30, 40, 60)
    (folder / "qf05.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"QF 5 \(qf05\.safetensors; found qf5\.safetensors: rename"):
        RestorerBank.load(folder)


@pytest.mark.parametrize("family, shape", [("fmnist-quick", (8, 1, 28, 28)),
                                           ("natural-quick-residual", (2, 3, 64, 64))])
def test_a_bank_loads_in_either_layout_with_the_same_restorations(family, shape):
    folder = WEIGHTS_DIR / f"argan-{family}"
    default, nchw = RestorerBank.load(folder), RestorerBank.load(folder, channels_last=False)
    assert default.generator_for(40).tail.weight.is_contiguous(memory_format=torch.channels_last)  # CPU default
    assert nchw.generator_for(40).tail.weight.is_contiguous()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    qf = torch.tensor([20, 40] * (shape[0] // 2))
    with torch.no_grad():
        torch.testing.assert_close(nchw.restore(x, qf), default.restore(x, qf), atol=1e-5, rtol=0)


def test_bank_restore_takes_integer_qfs():
    bank = RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick")
    with pytest.raises(InputError, match=r"QFs.*torch\.bool"):
        bank.restore(torch.rand(2, 1, 28, 28), torch.tensor([True, True]))


@pytest.mark.parametrize("world", ["two", "0", "1.5"])
def test_world_size_parsed_like_an_argument(monkeypatch, world):
    """WORLD_SIZE comes from the launcher; a bad one is the kit's error naming it, not int()'s traceback."""
    from cnr.argan.train import _init_distributed

    monkeypatch.setenv("WORLD_SIZE", world)
    with pytest.raises(InputError, match=rf"WORLD_SIZE.*{world}"):
        _init_distributed(torch.device("cpu"))

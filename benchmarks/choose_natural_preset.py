"""How the natural (RGB) AR-GAN preset was chosen: PSNR gain bought per CPU-second, candidates side by side.

Each candidate trains for the same budget of CPU time (this process's, one thread: other jobs on the machine do
not change it; evaluation excluded) at one QF on the photo
corpus's TRAIN patches (the same step-keyed batches for all, same seed), MSE loss, Adam, warmup + cosine over the
budget. Every `--eval-every` seconds it is scored on 224-px crops of the corpus's VALIDATION photos: mean PSNR
gain over JPEG with a paired 95% interval (per-crop restored - JPEG), which makes the gain-vs-time curve; the
table adds forward+backward images/s at 224 px (what every attack step through the defense pays N times) and the
parameter count.

    OMP_NUM_THREADS=1 python benchmarks/choose_natural_preset.py [--budget 240] [--qf 10] [--candidates ...]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import torch

from cnr.argan.generator import PRESETS, Generator
from cnr.argan.losses import psnr
from cnr.argan.sources import ImageSource
from cnr.jpeg import jpeg_roundtrip

CANDIDATES: dict[str, dict[str, int]] = {
    "quick-residual": PRESETS["quick-residual"],
    "pool32x4": dict(channels=32, blocks=4, residual=1, batchnorm=0),
    "full16x2": dict(channels=16, blocks=2, residual=1, batchnorm=0, pool=0),
    "full24x3": dict(channels=24, blocks=3, residual=1, batchnorm=0, pool=0),
    "full32x4": dict(channels=32, blocks=4, residual=1, batchnorm=0, pool=0),
    "block8-64x3": dict(channels=64, blocks=3, residual=1, batchnorm=0, block=8),
    "block8-96x4": dict(channels=96, blocks=4, residual=1, batchnorm=0, block=8),
}


def paired_gain(restored: torch.Tensor, jpeg: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    """Mean per-image PSNR gain and the half-width of its paired 95% t-interval."""
    from scipy.stats import t as student

    d = (psnr(restored, clean, "none") - psnr(jpeg, clean, "none")).double()
    n = len(d)
    return d.mean().item(), student.ppf(0.975, n - 1) * d.std().item() / math.sqrt(n)


def fwd_bwd_speed(g: torch.nn.Module, size: int = 224, batch: int = 4) -> float:
    """Images per CPU-second of one forward and backward pass at size x size (the attack's cost per defense pass)."""
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    g(x).sum().backward()
    t0 = time.process_time()
    for _ in range(2):
        g(x).sum().backward()
    return 2 * batch / (time.process_time() - t0)


@torch.no_grad()
def score(g: Generator, clean: torch.Tensor, jpeg: torch.Tensor) -> tuple[float, float]:
    g.eval()
    r = torch.cat([g(jpeg[i : i + 4]) for i in range(0, len(jpeg), 4)])
    g.train()
    return paired_gain(r, jpeg, clean)


def run_candidate(name: str, arch: dict[str, int], args: argparse.Namespace, clean: torch.Tensor,
                  jpeg: torch.Tensor) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    g = Generator(3, **arch).to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in g.parameters())
    opt = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.9, 0.99))
    src = ImageSource("natural", 3, args.patch, args.seed)
    curve, step, trained, next_eval = [], 0, 0.0, args.eval_every
    while trained < args.budget:
        t0 = time.process_time()
        frac = trained / args.budget  # warmup 3%, then cosine to 5% of the peak, over the time budget
        cosine = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (frac - 0.03) / 0.97))
        lr = args.lr * (frac / 0.03 if frac < 0.03 else cosine)
        for group in opt.param_groups:
            group["lr"] = max(lr, args.lr * 1e-3)
        x, _ = src.batch(step, args.batch)
        j = jpeg_roundtrip(x, args.qf)
        loss = (g(j.contiguous(memory_format=torch.channels_last)) - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        trained += time.process_time() - t0
        if trained >= next_eval or trained >= args.budget:
            gain, ci = score(g, clean, jpeg)
            curve.append(dict(seconds=round(trained, 1), steps=step, gain=round(gain, 3), ci=round(ci, 3)))
            print(f"  {name}: {trained:6.0f} s, {step:5d} steps, loss {loss.item():.5f}, "
                  f"gain {gain:+.3f} +- {ci:.3f} dB", flush=True)
            next_eval += args.eval_every
    return dict(candidate=name, arch=arch, params=params, steps=step, seconds=round(trained, 1),
                gain=curve[-1]["gain"], ci=curve[-1]["ci"], img_s_224=round(fwd_bwd_speed(g), 2), curve=curve)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qf", type=int, default=10)
    ap.add_argument("--budget", type=float, default=240.0, help="training CPU-seconds per candidate")
    ap.add_argument("--eval-every", type=float, default=60.0)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--json", default=None, help="write the rows and curves here")
    args = ap.parse_args()
    from cnr.data.photo_corpus import corpus_crops

    clean = corpus_crops("validation", 224, per_photo=4, seed=0)  # 5 held-out photos x 4 crops
    jpeg = jpeg_roundtrip(clean, args.qf)
    print(f"photo corpus, QF {args.qf}, MSE, Adam {args.lr:g} warmup+cosine over {args.budget:.0f} CPU-s of training, "
          f"batch {args.batch} x {args.patch} px, seed {args.seed}, {torch.get_num_threads()} thread(s); "
          f"validation: {len(clean)} crops of 224 px from the validation photos", flush=True)
    rows = [run_candidate(n, CANDIDATES[n], args, clean, jpeg) for n in args.candidates]
    print(f"\n{'candidate':>15} {'params':>8} {'steps':>6} {'CPU s':>8} {'gain dB':>8} {'95% CI':>8} {'img/s@224':>10}")
    for r in rows:
        print(f"{r['candidate']:>15} {r['params']:>8} {r['steps']:>6} {r['seconds']:>8.0f} {r['gain']:>+8.3f} "
              f"{'+-' + format(r['ci'], '.3f'):>8} {r['img_s_224']:>10.2f}")
    print("\ngain vs training CPU time (s: dB):")
    for r in rows:
        print(f"{r['candidate']:>15}: " + ", ".join(f"{c['seconds']:.0f}: {c['gain']:+.2f}" for c in r["curve"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), rows=rows), f, indent=1)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()

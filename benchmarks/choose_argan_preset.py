"""How the `quick` AR-GAN preset was chosen: restoration quality against cost, candidates side by side.

Each candidate (channels, blocks) is trained for the same number of pixel+SSIM steps on Fashion-MNIST at one QF
(same seed, same batches), then scored on 512 held-out training images: PSNR of JPEG vs restored, training
seconds, and the forward+backward speed that sets what every attack step through the defense costs.

    .venv/bin/python benchmarks/choose_argan_preset.py [--qf 10] [--steps 600] [--candidates 16x2 32x4 64x16]
"""
from __future__ import annotations

import argparse
import time

import torch

from cnr.argan import generator as gen_mod
from cnr.argan.train import train_argan


def fwd_bwd_speed(g: torch.nn.Module, batch: int = 256) -> float:
    """Images/s of one forward and backward pass through the generator (what BPDA pays per step)."""
    x = torch.rand(batch, 1, 28, 28, requires_grad=True)
    g(x).sum().backward()
    t0 = time.perf_counter()
    for _ in range(3):
        g(x).sum().backward()
    return 3 * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qf", type=int, default=10)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--candidates", nargs="+", default=["16x2", "32x4", "64x16"])
    args = ap.parse_args()
    print(f"Fashion-MNIST, QF {args.qf}, {args.steps} pixel+SSIM steps, batch 32, seed 0, "
          f"{torch.get_num_threads()} threads")
    print(f"{'preset':>8} {'params':>9} {'train s':>8} {'PSNR jpeg':>10} {'PSNR restored':>14} {'gain dB':>8} "
          f"{'fwd+bwd img/s':>14}")
    for cand in args.candidates:
        c, b = (int(v) for v in cand.split("x"))
        name = f"cand-{cand}"
        gen_mod.PRESETS[name] = dict(channels=c, blocks=b)
        t0 = time.perf_counter()
        g, hist = train_argan(args.qf, dataset="fmnist", preset=name, pretrain_steps=args.steps, gan_steps=0,
                              val_every=args.steps, progress=False, device="cpu")
        secs = time.perf_counter() - t0
        v = hist[-1]
        n_par = sum(p.numel() for p in g.parameters())
        print(f"{cand:>8} {n_par:>9} {secs:>8.0f} {v['psnr_jpeg']:>10.2f} {v['psnr']:>14.2f} "
              f"{v['psnr'] - v['psnr_jpeg']:>8.2f} {fwd_bwd_speed(g.train(False)):>14.0f}", flush=True)


if __name__ == "__main__":
    main()

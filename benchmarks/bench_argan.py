"""AR-GAN generator speed: images/s and achieved GFLOP/s per preset, against a bare stack of the same convs.

The bare stack is an nn.Sequential of the generator's own Conv2d layers (same weights, same shapes, with the
pool and pixel shuffle that set those shapes) but no BN, ReLU, residual adds or [0,1] <-> [-1,1] mapping: what
the convolutions alone cost. ratio = generator img/s / bare img/s; the target is >= 0.8. FLOPs are counted
with torch.utils.flop_counter.FlopCounterMode (convs only, 2 per multiply-add). Timings alternate the two
models in rounds and keep each one's best round, so load from other processes hits both alike.

    .venv/bin/python benchmarks/bench_argan.py [--presets quick paper] [--size 28] [--channels 1] [--batch 256]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnr.argan.generator import PRESETS, Generator, build_generator


def bare_stack(g: Generator) -> nn.Sequential:
    """The generator's convolutions in order, with only the resampling that fixes their shapes."""
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    head, up, tail = convs[0], convs[-2], convs[-1]
    return nn.Sequential(head, nn.AvgPool2d(2), *convs[1:-2], up, nn.PixelShuffle(2), tail)


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Total FLOPs of one forward pass."""
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    return fc.get_total_flops()


@torch.no_grad()
def time_pair(a: nn.Module, b: nn.Module, x: torch.Tensor, rounds: int = 7, min_s: float = 0.3) -> tuple[float, float]:
    """Best seconds per call of a and b, interleaved round by round."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    for m in (a, b):  # warm-up
        m(x), m(x)
    sync()
    n = 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < min_s / 4:
        a(x)
        sync()
        n += 1
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for k, m in enumerate((a, b)):
            t = time.perf_counter()
            for _ in range(n):
                m(x)
            sync()
            best[k] = min(best[k], (time.perf_counter() - t) / n)
    return best[0], best[1]


def bench(preset: str, size: int, channels: int, batch: int, device: torch.device, rounds: int) -> dict:
    """One table row: the preset's speed, its FLOPs and the bare-conv ratio."""
    torch.manual_seed(0)
    g = build_generator(preset, channels).to(device).eval()
    bare = bare_stack(g).eval()
    x = torch.rand(batch, channels, size, size, device=device)
    flops = count_flops(g, x)
    t_g, t_b = time_pair(g, bare, x, rounds)
    return dict(preset=preset, params=sum(p.numel() for p in g.parameters()), mflop_img=flops / batch / 1e6,
                img_s=batch / t_g, gflop_s=flops / t_g / 1e9, bare_img_s=batch / t_b, ratio=t_b / t_g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["quick", "paper"], choices=sorted(PRESETS))
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, "
          f"input {args.batch}x{args.channels}x{args.size}x{args.size}")
    head = f"{'preset':<8}{'params':>10}{'MFLOP/img':>11}{'img/s':>10}{'GFLOP/s':>9}{'bare img/s':>12}{'ratio':>7}"
    print(head + "\n" + "-" * len(head))
    for p in args.presets:
        r = bench(p, args.size, args.channels, args.batch, device, args.rounds)
        print(f"{r['preset']:<8}{r['params']:>10,}{r['mflop_img']:>11.1f}{r['img_s']:>10.0f}{r['gflop_s']:>9.1f}"
              f"{r['bare_img_s']:>12.0f}{r['ratio']:>7.2f}")


if __name__ == "__main__":
    main()

"""Black-box attack speed: model queries per second of HopSkipJump, Square and Nattack against a plain forward pass.

For each setting (Fashion-MNIST: fmnist-cnn with the quick profile's bank; 224 px: EfficientNet-Lite0 with the
imagenet profile's natural bank, on that profile's images) and each model (the bare classifier and dynamic-N3 in
front of it), every attack runs through `cnr.attacks.run_attack` on the same images, and a plain forward pass of
the same model on the same batch is timed beside it (best of `--rounds`, measured before each attack, so load from
other processes hits both alike). queries/s counts images through the model (`AttackResult.n_forward`), so an
attack at ratio 1.0 spends all its time in the model; ratio = attack queries/s / forward queries/s. `@batch`: the
same ratio against a forward pass at the attack's own mean batch (its queries / its model calls), which tells the
attack's own overhead from the cost of the smaller batches it sends once images are fooled. Times are the process's
CPU seconds (one thread: the work done, whatever other processes do to the wall clock); the process runs in the
grid workers' environment (cnr.eval.grid.WORKER_ENV: one thread, glibc keeping freed activation buffers) with
the JPEG codec on one thread.

    .venv/bin/python benchmarks/bench_query_attacks.py [--only fmnist|224] [--n-fmnist 32] [--n-224 4]
        [--square-queries 40] [--nattack-iters 3] [--nattack-pop 20] [--hsj-steps 1] [--cprofile 12]
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
from timing import images_per_cpu_second
from torch import nn

from cnr.eval.grid import WORKER_ENV

BENCH_ENV = {**WORKER_ENV, "CNR_JPEG_THREADS": "1"}


class CallCounter(nn.Module):
    """Counts the calls into a model (run_attack counts the images), to get an attack's mean query batch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.n_calls = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.n_calls += 1
        return self.model(x)


@dataclass
class Setting:
    """One data set with its classifier, bank, images and the budgets of its profile."""

    label: str
    classifier: nn.Module
    bank: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    qf_range: tuple[int, int]
    seed: int
    ref_linf: float
    ref_l2: float


def load_setting(label: str, profile: str, n: int) -> Setting:
    """The evaluator's classifier, bank and first `n` images for `profile` (cnr.eval.evaluator.make_evaluator)."""
    from cnr.eval.evaluator import make_evaluator
    from cnr.run import resolve_run

    run = resolve_run(profile)
    ev, p = make_evaluator(run, n=n), run.profile
    return Setting(label, ev.classifier, ev.bank, ev.x[:n], ev.y[:n], tuple(p.grid.qf_range), p.seed,
                   p.grid.ref_linf, p.grid.ref_l2)


def forward_qps(model: nn.Module, x: torch.Tensor, rounds: int, min_s: float = 0.3) -> float:
    """Images per CPU second of one batched forward pass of `model` on `x`, best of `rounds`."""
    with torch.no_grad():
        return images_per_cpu_second(model, x, rounds, min_s)


def batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    """`size` images cut from (or tiled over) x."""
    return x.repeat((size + len(x) - 1) // len(x), 1, 1, 1)[:size]


def attack_cases(s: Setting, args: argparse.Namespace) -> list[tuple[str, str, float, dict[str, Any]]]:
    """(attack, norm, budget, params) of each measured attack, at the profile's reference budgets."""
    return [
        ("hsj", "l2", s.ref_l2, dict(steps=args.hsj_steps, initial_gradient_eval_steps=args.hsj_grad_evals,
                                     init_steps=args.hsj_init_steps)),
        ("square", "linf", s.ref_linf, dict(n_queries=args.square_queries)),
        ("square", "l2", s.ref_l2, dict(n_queries=args.square_queries)),
        ("nattack", "linf", s.ref_linf, dict(iterations=args.nattack_iters, population=args.nattack_pop)),
    ]


def profile_top(fn, top: int) -> Any:
    """Run fn under cProfile and print its `top` functions by own time."""
    prof = cProfile.Profile()
    out = prof.runcall(fn)
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)
    return out


def measure(s: Setting, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (model, attack): queries, seconds, queries/s and the ratio to the forward pass beside it."""
    from cnr.attacks import run_attack
    from cnr.defenses import CompressRestore, Defended

    defended = Defended(CompressRestore(s.bank, s.qf_range, 3, mode="dynamic", seed=s.seed), s.classifier).eval()
    rows = []
    for model_name, model in (("bare", s.classifier), ("dynamic-N3", defended)):
        for attack, norm, budget, params in attack_cases(s, args):
            fwd = forward_qps(model, s.x, args.rounds)
            counted = CallCounter(model)

            def run(attack=attack, norm=norm, budget=budget, params=params, counted=counted):
                return run_attack(attack, counted, s.x, s.y, budget, norm=norm, seed=s.seed, **params)

            t0 = time.process_time()
            res = profile_top(run, args.cprofile) if args.cprofile else run()
            cpu_s = time.process_time() - t0
            batch = round(res.n_forward / counted.n_calls)
            fwd_at_batch = forward_qps(model, batch_of(s.x, batch), args.rounds)
            qps = res.n_forward / cpu_s
            q = res.extra["queries"]
            rows.append(dict(setting=s.label, model=model_name, attack=f"{attack} {norm}", n=len(s.x),
                             queries=res.n_forward, cpu_s=cpu_s, qps=qps, forward_qps=fwd, ratio=qps / fwd,
                             batch=batch, ratio_at_batch=qps / fwd_at_batch, success=res.success_rate,
                             q_median=q.double().quantile(0.5).item(), q_max=int(q.max())))
            print(f"  {s.label} {model_name} {attack} {norm}: {qps:,.1f} q/s, forward {fwd:,.1f} img/s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("fmnist", "224"), default=None, help="one setting only")
    ap.add_argument("--n-fmnist", type=int, default=32, help="Fashion-MNIST images")
    ap.add_argument("--n-224", type=int, default=4, help="224 px images")
    ap.add_argument("--square-queries", type=int, default=40)
    ap.add_argument("--nattack-iters", type=int, default=3)
    ap.add_argument("--nattack-pop", type=int, default=20)
    ap.add_argument("--hsj-steps", type=int, default=1)
    ap.add_argument("--hsj-grad-evals", type=int, default=10)
    ap.add_argument("--hsj-init-steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="forward-pass rounds (best kept)")
    ap.add_argument("--cprofile", type=int, default=0, metavar="K", help="print each attack's top K functions")
    args = ap.parse_args()
    if any(os.environ.get(k) != v for k, v in BENCH_ENV.items()):  # glibc reads its settings at start: start again
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **BENCH_ENV})
    torch.set_num_threads(1)
    settings = [("fmnist", "quick", args.n_fmnist), ("224", "imagenet", args.n_224)]
    rows = []
    for label, profile, n in settings:
        if args.only in (None, label):
            rows += measure(load_setting(label, profile, n), args)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} thread, CPU seconds; queries = images through "
          f"the model (n_forward); ratio = attack q/s / forward q/s on the same model and images; @batch: against "
          f"a forward pass at the attack's mean batch; q med / q max: queries per image (extra['queries'])")
    head = (f"{'setting':<7} {'model':<10} {'attack':<12} {'n':>3} {'queries':>8} {'cpu s':>7} {'q/s':>8} "
            f"{'fwd q/s':>8} {'ratio':>6} {'batch':>5} {'@batch':>6} {'success':>7} {'q med':>6} {'q max':>6}")
    print(head)
    for r in rows:
        print(f"{r['setting']:<7} {r['model']:<10} {r['attack']:<12} {r['n']:>3} {r['queries']:>8,} "
              f"{r['cpu_s']:>7.2f} {r['qps']:>8,.1f} {r['forward_qps']:>8,.1f} {r['ratio']:>6.2f} {r['batch']:>5} "
              f"{r['ratio_at_batch']:>6.2f} {r['success']:>7.2f} {r['q_median']:>6.0f} {r['q_max']:>6}")


if __name__ == "__main__":
    main()

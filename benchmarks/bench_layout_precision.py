"""channels_last and bf16 autocast on CPU: speed against the kit's defaults, and how far their outputs move.

Modules of each setting (Fashion-MNIST: fmnist-cnn and the quick bank; 224 px: EfficientNet-Lite0 and the natural
bank, on the imagenet profile's images): the classifier, one generator (the bank's QF-40) and the defended model
(dynamic-N3, draw pinned so that every variant sees the same QFs). Variants: `default` (as the kit loads them:
classifier NCHW; generators channels_last on CPU, see cnr.argan.bank.load_generator), `nchw` (generators NCHW),
`channels_last` (the classifier too, cnr.classifiers.load_classifier(channels_last=True)), `bf16` (the default under
torch.autocast("cpu", torch.bfloat16)) and `bf16+cl`. Speed: images per CPU second of one batched forward pass,
best of `--rounds`, one thread, in the grid workers' environment. Agreement: top-1 of the variant against the
default, on the setting's images and on the queries a Square attack (Linf, the profile's reference budget) sent to
the default model; max |diff|: the largest change of an output value (logits, or pixels for a generator).

    .venv/bin/python benchmarks/bench_layout_precision.py [--only fmnist|224] [--n-fmnist 200] [--n-224 50]
        [--batch-fmnist 200] [--batch-224 8] [--square-queries 10]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
from collections.abc import Callable

import torch
from timing import images_per_cpu_second
from torch import nn

from cnr.eval.grid import WORKER_ENV

BENCH_ENV = {**WORKER_ENV, "CNR_JPEG_THREADS": "1"}
VARIANTS = ("default", "nchw", "channels_last", "bf16", "bf16+cl")


class Recorder(nn.Module):
    """Keeps every image an attack queries, to score the variants on the attack's own queries."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.model(x)


def with_layout(module: nn.Module, fmt: torch.memory_format) -> nn.Module:
    """A copy of `module` whose 4-D weights are in `fmt` (convolutions then run in that layout)."""
    return copy.deepcopy(module).to(memory_format=fmt)


def variants(clf: nn.Module, clf_cl: nn.Module, gen: nn.Module, bank: nn.Module, qf_range, seed: int
             ) -> dict[str, dict[str, Callable]]:
    """variant -> module name -> forward function (images -> outputs)."""
    from cnr.defenses import CompressRestore, Defended

    nchw = torch.contiguous_format

    def defended(classifier: nn.Module, b: nn.Module) -> Callable:
        model = Defended(CompressRestore(b, qf_range, 3, mode="dynamic", seed=seed), classifier).eval()
        return lambda x: model(x, draw=1)

    models = {"default": (clf, gen, bank), "nchw": (clf, with_layout(gen, nchw), with_layout(bank, nchw)),
              "channels_last": (clf_cl, gen, bank)}
    models["bf16"], models["bf16+cl"] = models["default"], models["channels_last"]
    out = {}
    for name, (c, g, b) in models.items():
        d = defended(c, b)
        out[name] = {"classifier": c, "generator": g, "defended": d}
    return out


def autocast(variant: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the bf16 variants, nothing otherwise."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if variant.startswith("bf16") else contextlib.nullcontext()


@torch.no_grad()
def speed(fn: Callable, x: torch.Tensor, variant: str, rounds: int, min_s: float = 0.3) -> float:
    """Images per CPU second of fn(x) under the variant's precision, best of `rounds`."""
    with autocast(variant):
        return images_per_cpu_second(fn, x, rounds, min_s)


@torch.no_grad()
def outputs(fn: Callable, x: torch.Tensor, variant: str, batch: int) -> torch.Tensor:
    """fn over x in batches, as float32."""
    with autocast(variant):
        return torch.cat([fn(x[i:i + batch]).float() for i in range(0, len(x), batch)])


def square_queries(clf: nn.Module, bank: nn.Module, x, y, budget: float, n_queries: int, qf_range, seed: int
                   ) -> dict[str, torch.Tensor]:
    """The images Square sends to the bare and to the defended (default) model."""
    from cnr.attacks import run_attack
    from cnr.defenses import CompressRestore, Defended

    out = {}
    for name, model in (("bare", clf), ("defended", Defended(CompressRestore(bank, qf_range, 3, seed=seed), clf))):
        rec = Recorder(model)
        run_attack("square", rec, x, y, budget, seed=seed, n_queries=n_queries)
        out[name] = torch.cat(rec.seen)
    return out


def measure(label: str, profile: str, n: int, batch: int, args: argparse.Namespace) -> None:
    """The speed table and the agreement table of one setting."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_query_attacks import load_setting

    from cnr.classifiers import load_classifier
    from cnr.run import resolve_run

    s = load_setting(label, profile, n)
    run = resolve_run(profile)
    clf_cl = load_classifier(run.profile.data.classifier, weights=run.classifier_weights(), channels_last=True)
    gen = s.bank.generator_for(40)
    table = variants(s.classifier, clf_cl, gen, s.bank, s.qf_range, s.seed)
    xb = s.x[:batch] if len(s.x) >= batch else s.x.repeat(batch // len(s.x) + 1, 1, 1, 1)[:batch]
    print(f"\n{label}: {len(s.x)} images, speed at batch {batch} (images per CPU second, one thread)")
    print(f"{'module':<11} " + " ".join(f"{v:>16}" for v in VARIANTS))
    base: dict[str, float] = {}
    for module in ("classifier", "generator", "defended"):
        cells = []
        for v in VARIANTS:
            ips = speed(table[v][module], xb, v, args.rounds)
            base.setdefault(module, ips)
            cells.append(f"{ips:>8,.1f} ({ips / base[module]:.2f}x)")
        print(f"{module:<11} " + " ".join(f"{c:>16}" for c in cells))
    queries = square_queries(s.classifier, s.bank, s.x[:args.attack_images], s.y[:args.attack_images],
                             s.ref_linf, args.square_queries, s.qf_range, s.seed)
    sets = {"images": (s.x, ("classifier", "generator", "defended")),
            "bare queries": (queries["bare"], ("classifier",)),
            "defended queries": (queries["defended"], ("defended",))}
    print(f"agreement with the default (top-1; max |diff| of outputs); queries: Square Linf {s.ref_linf:.4g}, "
          f"{args.square_queries} steps on {args.attack_images} images")
    print(f"{'on':<17} {'module':<11} {'n':>5} " + " ".join(f"{v:>22}" for v in VARIANTS[1:]))
    for where, (xs, modules) in sets.items():
        for module in modules:
            ref = outputs(table["default"][module], xs, "default", batch)
            cells = []
            for v in VARIANTS[1:]:
                o = outputs(table[v][module], xs, v, batch)
                diff = (o - ref).abs().max().item()
                agree = "" if module == "generator" else f"{(o.argmax(1) == ref.argmax(1)).float().mean().item():.4f} "
                cells.append(f"{agree}{diff:.1e}")
            print(f"{where:<17} {module:<11} {len(xs):>5} " + " ".join(f"{c:>22}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("fmnist", "224"), default=None)
    ap.add_argument("--n-fmnist", type=int, default=200, help="Fashion-MNIST test images for the agreement")
    ap.add_argument("--n-224", type=int, default=50, help="imagenet-profile images for the agreement")
    ap.add_argument("--batch-fmnist", type=int, default=200)
    ap.add_argument("--batch-224", type=int, default=8)
    ap.add_argument("--attack-images", type=int, default=4, help="images Square attacks for the query sets")
    ap.add_argument("--square-queries", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if any(os.environ.get(k) != v for k, v in BENCH_ENV.items()):  # glibc reads its settings at start: start again
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **BENCH_ENV})
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, bf16 = torch.autocast('cpu', bfloat16)")
    for label, profile, n, batch in (("fmnist", "quick", args.n_fmnist, args.batch_fmnist),
                                     ("224", "imagenet", args.n_224, args.batch_224)):
        if args.only in (None, label):
            measure(label, profile, n, batch, args)


if __name__ == "__main__":
    main()

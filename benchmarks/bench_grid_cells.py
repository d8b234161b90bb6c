"""What one cell of a profile's grid costs, and whether it costs what its parts do.

For one cell of each kind (attack label x defense mode and N) it runs the cell on `--n` images and prints its CPU
seconds beside the sum of its parts, each measured alone on the same images: JPEG at the range's QFs, each generator
the defense can draw (weighted by how often it is drawn), the classifier, forward and forward+backward. The cell
made `n_forward` / `n_backward` image passes through the model its attack sees (its row says so), and its scoring
`draws x n` forward passes through the defended model; the parts predict

    n_forward x fwd(attacked) + n_backward x (fwdbwd - fwd)(attacked) + draws x n x fwd(scored)

with fwd = N x (JPEG + generator) + classifier (and the backward through what the gradient view differentiates).
`ratio` prices each generator on the whole batch; `grouped` on the share of it that the drawn QFs give it (a
dynamic bank runs each generator on its own images only).
`model` repeats the prediction with the whole defended model timed alone: parts ~ model < cell puts the rest in the
attack's loop, parts < model in the defense's own plumbing. Where that rest goes: global module hooks time every
outermost forward call of the classifier or the defended model inside the cell, with its batch size; `sized` is
the cell against those calls priced alone at their own batch sizes (an attack that queries a few images at a time
pays the model's per-call overhead on each), `loop` the share of the cell's CPU time outside those calls (for a
query attack, which has no backward, the attack's own work between queries). Then it
extrapolates each kind to the profile's sample size and sums over the grid. CPU seconds of one thread, so a loaded
machine slows both sides alike. Each cell runs twice: `cold` is its first run in the process (kernels chosen for its
shapes, lazy set-up), `cell` the second, which the ratios use.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_grid_cells.py [--profile quick] [--n 16] \
        [--defenses none dynamic-N3] [--only clean bpda-pgd ...]
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from timing import images_per_cpu_second

from cnr.cells.groups import build_grid
from cnr.cells.specs import Cell
from cnr.config import parse_override
from cnr.defenses.compress_restore import Defended
from cnr.eval.evaluator import Evaluator, make_evaluator
from cnr.jpeg import jpeg_roundtrip, jpeg_surrogate
from cnr.run import resolve_run

MIN_S = 0.2  # CPU seconds per timing round: enough for a stable per-image figure at a few images


def kind(cell: Cell) -> tuple[str, str]:
    """Cells that cost the same: attack label and the defense's mode and N (budgets cost alike)."""
    d = cell.defense
    return cell.attack.label, "none" if d.mode == "none" else f"{d.mode}-N{d.n_iter}"


def per_image(fn: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    """CPU seconds per image of fn on the batch x (best of two rounds)."""
    return 1.0 / images_per_cpu_second(fn, x, rounds=2, min_s=MIN_S)


def forward_backward(model: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], None]:
    """A pass with the input's gradient, as an attack step makes it."""
    def step(x: torch.Tensor) -> None:
        model(x.detach().requires_grad_()).sum().backward()
    return step


def no_grad(model: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], object]:
    return torch.no_grad()(model)


class Parts:
    """Per-image CPU seconds of each part alone on the cell's images: classifier, JPEG, generators; cached."""

    def __init__(self, ev: Evaluator, x: torch.Tensor):
        self.ev, self.x = ev, x
        self.clf = (per_image(no_grad(ev.classifier), x), per_image(forward_backward(ev.classifier), x))
        self._cache: dict[tuple, tuple[float, float]] = {}

    def _cached(self, key: tuple, measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
        if key not in self._cache:
            self._cache[key] = measure()
        return self._cache[key]

    def jpeg(self, qf_range: tuple[int, int], surrogate: bool) -> tuple[float, float]:
        """(forward, forward+backward) of the codec at QFs drawn over the range; BPDA's backward is the identity."""
        def measure() -> tuple[float, float]:
            qfs = torch.randint(qf_range[0], qf_range[1] + 1, (len(self.x),))
            fwd = per_image(lambda x: jpeg_roundtrip(x, qfs), self.x)
            fb = per_image(forward_backward(lambda x: jpeg_surrogate(x, qfs)), self.x) if surrogate else fwd
            return fwd, fb
        return self._cached(("jpeg", qf_range, surrogate), measure)

    def generator(self, mode: str, qf_range: tuple[int, int], grouped: bool) -> tuple[float, float]:
        """(forward, forward+backward) of the restorer: the static one, or each drawn one weighted by its draws;
        with `grouped`, each on the share of the batch its QFs draw (the dynamic bank's batches), else on all."""
        bank = self.ev.bank

        def measure() -> tuple[float, float]:
            if mode == "static":
                gens = [(bank.static, 1.0)]
            else:
                served = bank.nearest_tensor(torch.arange(qf_range[0], qf_range[1] + 1)).tolist()
                gens = [(bank.generator_for(q), served.count(q) / len(served)) for q in sorted(set(served))]
            xs = [self.x[:max(1, round(w * len(self.x)))] if grouped else self.x for _, w in gens]
            fwd = sum(w * per_image(no_grad(g), x) for (g, w), x in zip(gens, xs))
            fb = sum(w * per_image(forward_backward(g), x) for (g, w), x in zip(gens, xs))
            return fwd, fb
        return self._cached(("gen", mode, qf_range, grouped), measure)

    def defended(self, cell: Cell, attacked: bool, grouped: bool) -> tuple[float, float]:
        """(forward, forward+backward) per image of the model the cell attacks (or scores), from its parts."""
        d, view = cell.defense, cell.attack.view
        if d.mode == "none" or (attacked and view == "oblivious"):
            return self.clf
        mode = "static" if attacked and view == "transfer-static" else d.mode
        j, j_fb = self.jpeg(d.qf_range, surrogate=attacked and view == "surrogate")
        g, g_fb = self.generator(mode, d.qf_range, grouped) if mode != "jpeg" else (0.0, 0.0)
        if attacked and view == "identity":  # generalized BPDA: the defense runs without a graph
            g_fb, j_fb = g, j
        if attacked and view == "expected" and mode == "dynamic":  # the drawn restorer, then the static one's graph
            _, s_fb = self.generator("static", d.qf_range, grouped)
            g_fb = g + s_fb
        fwd = d.n_iter * (j + g) + self.clf[0]
        return fwd, d.n_iter * (j_fb + g_fb) + self.clf[1]


def predicted(row: dict, attacked: tuple[float, float], scored: float, draws: int) -> float:
    """CPU seconds the cell's passes cost at the parts' per-image prices."""
    fwd, fb = attacked
    return row["n_forward"] * fwd + row["n_backward"] * (fb - fwd) + draws * row["n"] * scored


def model_costs(model: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(forward, forward+backward) per image of a whole model timed alone."""
    return per_image(no_grad(model), x), per_image(forward_backward(model), x)


class ModelClock:
    """CPU seconds spent inside the outermost forward calls of the classifier or a defended model, while entered,
    and each call's model and batch size."""

    def __init__(self, classifier: torch.nn.Module):
        self.classifier, self.depth, self.seconds, self._t0 = classifier, 0, 0.0, 0.0
        self.calls: list[tuple[torch.nn.Module, int]] = []

    def _ours(self, module: torch.nn.Module) -> bool:
        return module is self.classifier or isinstance(module, Defended)

    def _enter(self, module: torch.nn.Module, args: tuple) -> None:
        if self._ours(module):
            if self.depth == 0:
                self._t0 = time.process_time()
                self.calls.append((module, len(args[0])))
            self.depth += 1

    def _leave(self, module: torch.nn.Module, *_) -> None:
        if self._ours(module):
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.process_time() - self._t0

    def __enter__(self) -> ModelClock:
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        self._handles = (register_module_forward_pre_hook(self._enter), register_module_forward_hook(self._leave))
        return self

    def __exit__(self, *_) -> None:
        for h in self._handles:
            h.remove()


def sized_price(calls: list[tuple[torch.nn.Module, int]], x: torch.Tensor) -> float:
    """CPU seconds of these model calls, each priced alone at its own batch size (images tiled from x)."""
    count: dict[tuple[int, int], int] = defaultdict(int)
    models = {}
    for module, b in calls:
        count[id(module), b] += 1
        models[id(module)] = module
    total = 0.0
    for (key, b), k in count.items():
        batch = x[torch.arange(b) % len(x)]
        total += k * b * per_image(no_grad(models[key]), batch)
    return total


def cpu_seconds(ev: Evaluator, cell: Cell) -> tuple[float, dict, ModelClock]:
    """CPU seconds of one run of the cell, its row, and its model calls (their CPU seconds, models, batch sizes)."""
    ev._bare.clear()  # the undefended PGD's adversarials are kept for the oblivious cells: time the attack each run
    with ModelClock(ev.classifier) as clock:
        t0 = time.process_time()
        row = ev.run_cell(cell)
        spent = time.process_time() - t0
    return spent, row, clock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=16, help="images per timed cell")
    ap.add_argument("--only", nargs="*", default=None, help="attack labels to time (default: all)")
    ap.add_argument("--defenses", nargs="*", default=None, help="defense kinds, e.g. none dynamic-N3 (default: all)")
    ap.add_argument("--set", action="append", default=[], help="profile override field=value (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = resolve_run(args.profile, dict(parse_override(i) for i in args.set))
    p = run.profile
    cells = build_grid(p)
    ev = make_evaluator(run)
    groups: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        groups[kind(c)].append(c)
    ev.sizes = {k: min(args.n, v) for k, v in p.sample_sizes().items()}
    parts: dict[int, Parts] = {}
    print(f"profile {p.name}: {len(cells)} cells, {len(groups)} kinds; one cell of each kind on <= {args.n} images; "
          f"CPU seconds of one thread")
    print(f"{'attack':<22} {'defense':<12} {'n':>3} {'fwd':>7} {'bwd':>7} {'cold s':>7} {'cell s':>7} {'parts s':>7} "
          f"{'ratio':>5} {'grouped':>7} {'model':>5} {'sized':>5} {'loop':>5} {'cells':>5} {'total s':>8}")
    total = 0.0
    for (label, dname), group in sorted(groups.items()):
        if (args.only and label not in args.only) or (args.defenses and dname not in args.defenses):
            continue
        cell = group[0]
        cold_s, row, _ = cpu_seconds(ev, cell)
        cell_s, row, clock = cpu_seconds(ev, cell)  # the same cell again: what it costs once the process is warm
        x = ev.x[:row["n"]]
        part = parts.setdefault(row["n"], Parts(ev, x))
        draws = row["draws"]
        by_parts, by_groups = (predicted(row, part.defended(cell, True, grouped),
                                         part.defended(cell, False, grouped)[0], draws) for grouped in (False, True))
        _, target, attacked = ev.models(cell)
        target_fwd = per_image(no_grad(target), x)
        by_model = predicted(row, model_costs(attacked, x), target_fwd, draws)
        by_size = sized_price(clock.calls, x) if clock.calls else float("nan")
        full_n = p.sample_sizes()[cell.attack.sample]
        per_cell = cell_s * full_n / row["n"]
        total += per_cell * len(group)
        print(f"{label:<22} {dname:<12} {row['n']:>3} {row['n_forward']:>7} {row['n_backward']:>7} {cold_s:>7.2f} "
              f"{cell_s:>7.2f} "
              f"{by_parts:>7.2f} {cell_s / by_parts:>5.2f} {cell_s / by_groups:>7.2f} {cell_s / by_model:>5.2f} "
              f"{cell_s / by_size:>5.2f} {1 - clock.seconds / cell_s:>5.2f} {len(group):>5} "
              f"{per_cell * len(group):>8.0f}", flush=True)
    print(f"estimated grid time (one thread, CPU s): {total:.0f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()

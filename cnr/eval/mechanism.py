"""Measures the mechanism behind the paper's claim that switching generators "makes the gradient approximation difficult".

Four measurements, each returning a tidy DataFrame: the setup columns SETUP_COLUMNS (defense, mode, N, qf_range, grad,
n_images, draws, seed), the measurement's own keys, then metric, value (a mean over images), lo and hi (a 95%
percentile-bootstrap interval over images, N_BOOT resamples from a generator seeded with `seed`) and interval:

(a) gradient_cosine: how alike the BPDA input gradients of two independent draws are, with the same-draw check;
(b) eot_alignment: how well a k-draw EOT mean gradient matches a disjoint reference mean over many draws;
(c) generator_divergence: how differently the per-QF generators (and the static one) restore the same JPEG image;
(d) smoothing: how much each defense shrinks a random or an adversarial perturbation, and how often it flips a label.

Draw indices come from measurement_draws: seeded and disjoint from the attacks' draws (0, 1, ...) and the
evaluation's scoring draws (EVAL_DRAW_BASE + j). Defenses are passed as {name: CompressRestore or None (undefended)};
standard_defenses builds the grid's set. Everything runs in batches; only (a) and (b) take gradients.
"""
from __future__ import annotations

import json
import time
import warnings
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cnr.argan.bank import RestorerBank
from cnr.attacks import run_attack
from cnr.checks import check_images, check_labels
from cnr.defenses import CompressRestore, grid_defenses
from cnr.errors import InputError
from cnr.eval.scoring import EVAL_DRAW_BASE
from cnr.jpeg import jpeg_roundtrip
from cnr.weights import atomic_write_bytes

if TYPE_CHECKING:
    from cnr.run import Run

Defenses = Mapping[str, "CompressRestore | None"]
SETUP_COLUMNS = ["defense", "mode", "N", "qf_range", "grad", "n_images", "draws", "seed"]
VALUE_COLUMNS = ["metric", "value", "lo", "hi", "interval"]
INTERVAL = "bootstrap95-images"
N_BOOT = 2000
MECH_DRAW_BASE = 2_000_000_000  # above EVAL_DRAW_BASE + any draw count the evaluation uses
DRAWS_PER_SEED = 1_000_000
BATCH_SIZE = 256


# --- shared pieces ------------------------------------------------------------------------------------------------

def standard_defenses(bank: RestorerBank, qf_range: int | tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5),
                      seed: int = 0, grad: str = "bpda", include_none: bool = False) -> dict[str, CompressRestore | None]:
    """The grid's compress-restore defenses (jpeg, static-N*, dynamic-N*; optionally none) at these Ns, BPDA backward."""
    from dataclasses import replace

    from cnr.profiles import Profile

    qr = (qf_range, qf_range) if isinstance(qf_range, int) else tuple(qf_range)
    p = replace(Profile(name="mechanism"), qf_range=qr, ns=tuple(ns), sweep_ns=tuple(ns))
    specs = [d for d in grid_defenses(p) if d.builder in ("none", "compress-restore") and "fixed-qf" not in d.roles]
    return {s.name: s.build(bank, grad=grad, seed=seed) for s in specs if include_none or s.mode != "none"}


def measurement_draws(seed: int, count: int, offset: int = 0) -> list[int]:
    """Draw indices for a measurement: fixed by seed, and never an attack's or the evaluation's draw."""
    _check_int(seed, "seed", 0)
    if count + offset > DRAWS_PER_SEED:
        raise InputError(f"at most {DRAWS_PER_SEED} draws per seed, asked for {count + offset}")
    start = MECH_DRAW_BASE + seed * DRAWS_PER_SEED + offset
    return list(range(start, start + count))


def bootstrap_mean(values: torch.Tensor, seed: int, n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """Mean over images with a 95% percentile-bootstrap interval (seeded): the uncertainty every row carries."""
    v = values.detach().double().flatten().cpu()
    finite = torch.isfinite(v)
    if not finite.all():  # e.g. a cosine with an all-zero gradient: said, since the row's n_images counts them
        warnings.warn(f"{int((~finite).sum())} of {v.numel()} values are undefined (NaN/inf) and left out of the "
                      "mean and its interval", RuntimeWarning, stacklevel=2)
    v = v[finite]
    if v.numel() == 0:
        return float("nan"), float("nan"), float("nan")
    idx = torch.randint(0, len(v), (n_boot, len(v)), generator=torch.Generator().manual_seed(seed))
    lo, hi = torch.quantile(v[idx].mean(1), torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return v.mean().item(), lo, hi


def per_image_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between matching rows of two (n, ...) tensors, in float64; NaN where either row is zero."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), torch.nan)


def input_gradients(defense: CompressRestore | None, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    draw: int, batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """(n, C*H*W) gradients of the cross-entropy of classifier(defense(x, draw)) w.r.t. x: what a BPDA attacker sees."""
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].detach().clone().requires_grad_(True)
        z = xb if defense is None else defense(xb, draw=draw)
        loss = F.cross_entropy(classifier(z), y[i:i + batch_size], reduction="sum")  # sum: per-image gradients
        out.append(torch.autograd.grad(loss, xb)[0].flatten(1))
    return torch.cat(out)


def _check_int(v, name: str, least: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        raise InputError(f"{name} must be an integer >= {least}, got {v!r}")
    return v


def _check_setup(defenses: Defenses, x: torch.Tensor, y: torch.Tensor | None, seed: int, batch_size: int) -> None:
    if not isinstance(defenses, Mapping) or not defenses:
        raise InputError("defenses must be a non-empty {name: CompressRestore or None} mapping (see standard_defenses)")
    for name, d in defenses.items():
        if d is not None and not isinstance(d, CompressRestore):
            raise InputError(f"defense {name!r} must be a CompressRestore or None, got {type(d).__name__}")
    check_images(x, min_size=8, name="measurement images")
    if y is not None:
        check_labels(y, len(x))
    _check_int(seed, "seed", 0)
    _check_int(batch_size, "batch_size", 1)


def _setup(name: str, d: CompressRestore | None, n: int, draws: int, seed: int) -> dict:
    if d is None:
        return dict(defense=name, mode="none", N=0, qf_range="-", grad="-", n_images=n, draws=draws, seed=seed)
    lo, hi = d.qf_range
    return dict(defense=name, mode=d.mode, N=d.n_iter, qf_range=f"{lo}-{hi}", grad=d.grad, n_images=n, draws=draws,
                seed=seed)


def _row(setup: dict, metric: str, values: torch.Tensor, seed: int, **keys) -> dict:
    mean, lo, hi = bootstrap_mean(values, seed)
    return {**setup, **keys, "metric": metric, "value": mean, "lo": lo, "hi": hi, "interval": INTERVAL}


# --- (a) cross-draw gradient cosine ------------------------------------------------------------------------------

def gradient_cosine(defenses: Defenses, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 4,
                    seed: int = 0, batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Per-image cosine of BPDA gradients under independent draws (low: one draw's gradient misleads the next).

    metric "cross-draw": per image, the mean cosine over all pairs of `draws` distinct draws; "same-draw": the
    gradient at the first draw recomputed from scratch against the first one (1 unless draw pinning is broken);
    "cross-draw-diff": for each N with both a static and a dynamic defense, dynamic minus static per image (defense
    "dynamic-N<k> - static-N<k>"), so the contrast gets a paired interval over the same images.
    """
    _check_setup(defenses, x, y, seed, batch_size)
    _check_int(draws, "draws", 2)
    rows, cross_by = [], {}
    for name, d in defenses.items():
        ids = measurement_draws(seed, draws)
        grads = [input_gradients(d, classifier, x, y, a, batch_size) for a in ids]
        again = input_gradients(d, classifier, x, y, ids[0], batch_size)
        cross = torch.stack([per_image_cosine(grads[i], grads[j]) for i, j in combinations(range(draws), 2)]).mean(0)
        setup = _setup(name, d, len(x), draws, seed)
        rows += [_row(setup, "cross-draw", cross, seed), _row(setup, "same-draw", per_image_cosine(grads[0], again), seed)]
        if d is not None and d.mode in ("static", "dynamic"):
            cross_by[(d.mode, d.n_iter)] = (name, setup, cross)
    for (mode, n), (dyn_name, setup, dyn) in cross_by.items():
        if mode == "dynamic" and ("static", n) in cross_by:
            static_name, _, static = cross_by[("static", n)]
            paired = {**setup, "defense": f"{dyn_name} - {static_name}", "mode": "dynamic - static"}
            rows.append(_row(paired, "cross-draw-diff", dyn - static, seed))
    return pd.DataFrame(rows)


# --- (b) EOT alignment -------------------------------------------------------------------------------------------

def eot_alignment(defenses: Defenses, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  ks: Iterable[int] = (1, 2, 4, 8, 16, 32), reference: int = 32, seed: int = 0,
                  batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Cosine of the k-draw mean gradient with a disjoint `reference`-draw mean: how much EOT recovers per draw spent.

    The reference draws and the EOT draws never overlap, so even k = reference stays below 1 for a random defense:
    that row is the split-half agreement of two independent reference-sized estimates (the ceiling of this
    measurement); a deterministic defense gives 1 at every k.
    """
    _check_setup(defenses, x, y, seed, batch_size)
    ks = sorted({_check_int(k, "every k", 1) for k in ks})
    _check_int(reference, "reference", 1)
    if not ks or ks[-1] > reference:
        raise InputError(f"ks must be non-empty with every k <= reference ({reference}), got {ks}")
    rows = []
    for name, d in defenses.items():
        ref = sum(input_gradients(d, classifier, x, y, a, batch_size) for a in measurement_draws(seed, reference))
        acc = torch.zeros_like(ref)
        setup = _setup(name, d, len(x), reference, seed)
        for j, a in enumerate(measurement_draws(seed, ks[-1], offset=reference), start=1):
            acc += input_gradients(d, classifier, x, y, a, batch_size)
            if j in ks:
                rows.append(_row(setup, "alignment", per_image_cosine(acc, ref), seed, k=j))
    return pd.DataFrame(rows)


# --- (c) generator divergence ------------------------------------------------------------------------------------

@torch.no_grad()
def generator_divergence(bank: RestorerBank, x: torch.Tensor, input_qfs: Iterable[int] | None = None, seed: int = 0,
                         batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Per-image RMSE between every pair of outputs on the same JPEG image: per-QF generators, static, JPEG, clean.

    For each input QF, x is JPEG-coded once and every generator restores that same image; columns a, b name the
    outputs ("clean", "jpeg", "qf05", ..., "static"), so generator-vs-generator gaps sit beside the JPEG-vs-clean
    gap that sets the scale. metric "rmse" is in [0, 1] pixel units.
    """
    if not isinstance(bank, RestorerBank):
        raise InputError(f"bank must be a RestorerBank, got {type(bank).__name__}")
    check_images(x, channels=bank.in_channels, min_size=8, name="measurement images")
    _check_int(seed, "seed", 0)
    _check_int(batch_size, "batch_size", 1)
    input_qfs = list(bank.qfs if input_qfs is None else input_qfs)
    if not input_qfs:
        raise InputError("input_qfs must name at least one QF")
    rows = []
    setup = dict(defense="bank", mode="generators", N=1, qf_range=f"{min(bank.qfs)}-{max(bank.qfs)}", grad="-",
                 n_images=len(x), draws=1, seed=seed)
    for q in input_qfs:
        outs: dict[str, list[torch.Tensor]] = {}
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            jb = jpeg_roundtrip(xb, q)
            parts = {"clean": xb, "jpeg": jb, **{f"qf{g:02d}": bank.restore(jb, g) for g in bank.qfs}}
            if bank.has_static:
                parts["static"] = bank.static(jb)
            for k, v in parts.items():
                outs.setdefault(k, []).append(v.flatten(1).double())
        flat = {k: torch.cat(v) for k, v in outs.items()}
        for a in flat:
            for b in flat:
                rmse = (flat[a] - flat[b]).pow(2).mean(1).sqrt()
                rows.append(_row(setup, "rmse", rmse, seed, input_qf=int(q), a=a, b=b))
    return pd.DataFrame(rows)


# --- (d) smoothing -----------------------------------------------------------------------------------------------

def perturbations(classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, size: float, kind: str,
                  seed: int = 0, pgd_steps: int = 10) -> torch.Tensor:
    """delta with x + delta in [0, 1]: Gaussian scaled to `size`, or PGD on the bare classifier (kit budgets)."""
    if norm not in ("linf", "l2") or not size > 0:
        raise InputError(f"norm must be 'linf' or 'l2' and size > 0, got {norm!r}, {size!r}")
    if kind == "pgd":
        return run_attack("pgd", classifier, x, y, size, norm=norm, seed=seed, steps=pgd_steps).x_adv - x
    if kind != "gaussian":
        raise InputError(f"perturbation kind must be 'gaussian' or 'pgd', got {kind!r}")
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype).to(x.device).flatten(1)
    xf = x.flatten(1)
    scale = size / g.abs().amax(1) if norm == "linf" else size * xf.norm(dim=1) / g.norm(dim=1)  # L2: ||d|| / ||x||
    return ((xf + g * scale[:, None]).clamp(0, 1) - xf).view_as(x)


@torch.no_grad()
def _pinned(d: CompressRestore | None, x: torch.Tensor, qfs: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    if d is None:
        return x
    return torch.cat([d.purify(x[i:i + batch_size], qfs[:, i:i + batch_size]) for i in range(0, len(x), batch_size)])


def smoothing(defenses: Defenses, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
              sizes: Iterable[tuple[str, float]] = (("linf", 0.05), ("l2", 0.1)),
              kinds: Iterable[str] = ("gaussian", "pgd"), draws: int = 2, pgd_steps: int = 10, seed: int = 0,
              batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """||D(x+d) - D(x)|| / ||d|| and the fraction of labels flipped, at pinned QFs: how much each defense smooths.

    The QFs of each draw are those the clean image gets (draw_qfs(x, draw)) and are reused for x + d, so the ratio
    measures the defense as a function, not its randomness (re-hashing x + d would draw new QFs). metric "ratio":
    per image, mean over draws of the L2 ratio; "flip": fraction of draws whose prediction on D(x+d) differs from
    that on D(x). The undefended entry (None) gives ratio 1 and the bare classifier's flips. JPEG is piecewise
    constant (quantized coefficients, 8-bit pixels), so small random d can give ratios above 1.
    """
    _check_setup(defenses, x, y, seed, batch_size)
    _check_int(draws, "draws", 1)
    _check_int(pgd_steps, "pgd_steps", 1)
    sizes, kinds = list(sizes), list(kinds)
    if not sizes or not kinds:
        raise InputError("sizes and kinds must be non-empty")
    deltas = {(k, nm, float(s)): perturbations(classifier, x, y, nm, float(s), k, seed, pgd_steps)
              for nm, s in sizes for k in kinds}
    rows = []
    for name, d in defenses.items():
        ids = measurement_draws(seed, draws) if d is not None else [0]
        pins = [d.draw_qfs(x, a).to(x.device) if d is not None else None for a in ids]
        clean = [_pinned(d, x, q, batch_size) for q in pins]
        with torch.no_grad():
            clean_pred = [classifier(c).argmax(1) for c in clean]
        setup = _setup(name, d, len(x), len(ids), seed)
        for (kind, nm, s), delta in deltas.items():
            xp = (x + delta).clamp(0, 1)
            dn = (xp - x).flatten(1).norm(dim=1)
            ratio, flip = torch.zeros(len(x), dtype=torch.float64), torch.zeros(len(x), dtype=torch.float64)
            for q, c, p in zip(pins, clean, clean_pred):
                out = _pinned(d, xp, q, batch_size)
                ratio += ((out - c).flatten(1).norm(dim=1) / dn).double().cpu()
                with torch.no_grad():
                    flip += (classifier(out).argmax(1) != p).double().cpu()
            keys = dict(delta=kind, norm=nm, size=s)
            rows += [_row(setup, "ratio", ratio / len(ids), seed, **keys),
                     _row(setup, "flip", flip / len(ids), seed, **keys)]
    return pd.DataFrame(rows)


# --- all four, for a run -----------------------------------------------------------------------------------------

MEASUREMENTS = ("gradient_cosine", "eot_alignment", "generator_divergence", "smoothing")


def mechanism_jobs(bank: RestorerBank, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   qf_range: tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5), draws: int = 8,
                   reference: int = 32, seed: int = 0) -> dict[str, Callable[[], pd.DataFrame]]:
    """The four measurements on one bank (the grid's JPEG / static / dynamic defenses at `ns`), each a call to make
    when it is wanted, so that a run can resume measurement by measurement."""
    ds = standard_defenses(bank, qf_range, ns, seed=seed)
    ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= reference]
    return {
        "gradient_cosine": lambda: gradient_cosine(ds, classifier, x, y, draws=draws, seed=seed),
        "eot_alignment": lambda: eot_alignment(ds, classifier, x, y, ks=ks, reference=reference, seed=seed),
        "generator_divergence": lambda: generator_divergence(bank, x, seed=seed),
        "smoothing": lambda: smoothing({"none": None, **ds}, classifier, x, y, seed=seed),
    }


def timed(name: str, job: Callable[[], pd.DataFrame], n_images: int) -> tuple[pd.DataFrame, dict]:
    """One measurement and its wall-time row (what a study run records)."""
    t0 = time.perf_counter()
    table = job()
    return table, dict(measurement=name, wall_s=round(time.perf_counter() - t0, 1), n_images=n_images,
                       threads=torch.get_num_threads())


def measure_all(bank: RestorerBank, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor,
                qf_range: tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5), draws: int = 8,
                reference: int = 32, seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The four measurements on one bank, and each one's wall time."""
    jobs = mechanism_jobs(bank, classifier, x, y, qf_range, ns, draws, reference, seed)
    tables, wall = {}, []
    for name, job in jobs.items():
        tables[name], row = timed(name, job, len(x))
        wall.append(row)
    return tables, pd.DataFrame(wall)


SETUP_FILE = "mechanism_setup.json"


def mechanism_setup(run: "Run") -> dict[str, Any]:
    """What a run's measurements depend on; stored beside its tables so that a resumed run never mixes two setups."""
    from cnr.data import BANK_FAMILY
    from cnr.paths import relative

    p = run.profile
    return dict(dataset=p.dataset, classifier=p.classifier, bank=relative(run.bank_dir(BANK_FAMILY[p.dataset])),
                n_images=p.mechanism_n, ns=list(p.mechanism_ns), draws=p.mechanism_draws,
                reference=p.mechanism_reference, qf_range=list(p.qf_range), seed=p.seed)


def _check_stored_setup(tables_dir: Path, setup: dict[str, Any]) -> None:
    """Stored measurements are resumed only if they were made with this run's setup (never silently mixed)."""
    from cnr.paths import relative

    path = tables_dir / SETUP_FILE
    if not path.is_file():
        raise InputError(f"{relative(tables_dir)} has mechanism tables but no {SETUP_FILE} saying how they were made: "
                         "move them away to measure again")
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {relative(path)} ({e}): move the folder away to measure again") from None
    diff = {k: (stored.get(k), v) for k, v in setup.items() if stored.get(k) != v}
    if diff:
        raise InputError(f"{relative(tables_dir)} was measured with "
                         + ", ".join(f"{k}={was!r}" for k, (was, _) in diff.items()) + "; this run asks for "
                         + ", ".join(f"{k}={now!r}" for k, (_, now) in diff.items())
                         + ": move that folder away (or pass resume=False to measure again)")


def run_mechanism(run: "Run", resume: bool = True) -> dict[str, pd.DataFrame]:
    """The four measurements on the run's bank and classifier (its first `mechanism_n` images), tables and figures
    under results/<run>/mechanism. Each table is saved as soon as it is measured; with `resume`, those already
    there (made with the setup recorded in mechanism_setup.json) are read back and only the missing ones are measured."""
    from cnr.eval.evaluator import make_evaluator
    from cnr.eval.rows import read_plain_table
    from cnr.reporting.mechanism_figures import save_mechanism_figures
    from cnr.table_files import save_table

    tables_dir, figures_dir = run.mechanism_dir / "tables", run.mechanism_dir / "figures"
    paths = {m: tables_dir / f"mechanism_{m}.csv" for m in MEASUREMENTS}
    p, setup = run.profile, mechanism_setup(run)
    hint = "delete it and rerun: the other measurements resume"
    stored = {m: read_plain_table(path, hint) for m, path in paths.items() if resume and path.is_file()}
    if stored:
        _check_stored_setup(tables_dir, setup)
    if len(stored) == len(MEASUREMENTS):
        return {m: stored[m] for m in MEASUREMENTS}
    ev = make_evaluator(run, n=p.mechanism_n)  # checks that the dataset has mechanism_n images
    if not stored:
        atomic_write_bytes(tables_dir / SETUP_FILE, (json.dumps(setup, indent=1) + "\n").encode())
    jobs = mechanism_jobs(ev.bank, ev.classifier, ev.x, ev.y, p.qf_range, p.mechanism_ns, draws=p.mechanism_draws,
                          reference=p.mechanism_reference, seed=p.seed)
    wall_path = tables_dir / "mechanism_wall.csv"
    old_wall = read_plain_table(wall_path) if stored else pd.DataFrame()
    wall = [r for r in old_wall.to_dict("records") if r.get("measurement") in stored]
    tables = {}
    for m in MEASUREMENTS:
        if m in stored:
            tables[m] = stored[m]
            continue
        tables[m], row = timed(m, jobs[m], len(ev.x))
        save_table(tables[m], tables_dir, f"mechanism_{m}", floatfmt=".4f")
        wall = sorted([*wall, row], key=lambda r: MEASUREMENTS.index(r["measurement"]))
        save_table(pd.DataFrame(wall), tables_dir, "mechanism_wall", floatfmt=".1f")
    save_mechanism_figures(tables, figures_dir)
    return tables

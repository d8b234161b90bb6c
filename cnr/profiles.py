"""The run profiles: one set of parameters that the notebooks, the CLI and the tests all read (resolved by cnr.run)."""
from __future__ import annotations

import ast
import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from cnr.errors import InputError, unknown_name

QF_SET: tuple[int, ...] = (5, 10, 20, 30, 40, 60)  # the legacy code's AR-GAN quality factors


@dataclass(frozen=True)
class Profile:
    """Every knob a profile sets; `cnr.run.resolve_run(name, overrides)` turns one into a Run."""

    name: str
    dataset: str = "fmnist"
    classifier: str = "fmnist-cnn"
    device: str = "cpu"
    seed: int = 0
    # classifier training
    clf_epochs: int = 10
    clf_batch: int = 128
    clf_train_limit: int | None = None  # None: the whole training split
    clf_eval_limit: int | None = None
    # AR-GAN bank
    argan_preset: str = "quick"
    argan_preset_natural: str = "quick-residual"  # RGB photos (see cnr.argan.generator.PRESETS)
    # train_argan settings for the natural bank, chosen by benchmarks/choose_natural_preset.py (corpus train patches,
    # QF 10, 240 CPU-s per candidate on one thread, gain on the corpus's validation photos): MSE (the loss PSNR
    # measures), Adam 5e-4 with warmup + cosine (stable on the corpus: 3,150 steps, +0.51 dB), 48-px patches (a
    # whole number of 16-px chroma blocks), no GAN phase (the targets are PSNR), and a warm start: the static
    # generator (6,000 steps over the six QFs) first, then each per-QF generator fine-tuned from it (1,500 steps):
    # every per-QF file gets the static's 460 CPU-s for the price of one (measured bank: cnr/shipped metadata).
    argan_natural_train: tuple[tuple[str, Any], ...] = (
        ("pixel", "l2"), ("ssim_weight", 0.0), ("lr", 5e-4), ("patch", 48), ("gan_steps", 0), ("warm_start", True),
        ("pretrain_steps", 1500), ("pretrain_steps_by_qf", (("static", 6000),)))
    argan_qfs: tuple[int, ...] = QF_SET
    argan_pretrain_steps: int = 2000
    argan_gan_steps: int = 500
    # QF 60 JPEG is already close to clean: the restorer must learn a near-identity through the 2x2 pooling, and
    # at 2,000 steps it stayed 0.2 dB below JPEG on Fashion-MNIST; 6,000 steps put it 1 dB above (measured).
    argan_pretrain_steps_by_qf: tuple[tuple[int | str, int], ...] = ((60, 6000),)
    argan_batch: int = 32
    argan_patch: int = 32  # natural-photo patches; Fashion-MNIST trains on whole 28x28 images
    restoration_n: int = 1000  # Fashion-MNIST test images in the restoration table
    # evaluation (issue 4 refines)
    n_eval: int = 500  # BPDA and oblivious attacks
    n_costly: int = 200  # EOT, AutoAttack, C&W, DeepFool, black-box
    draws: int = 5  # fresh draws of a random defense on the final adversarials
    # Convergence on the quick bank (results/quick/tables/convergence.csv: 100 images, Linf 0.1, worst case over 5
    # draws): BPDA-PGD is flat from 10 steps (dynamic-N3 0.11 [0.06, 0.19] at 10 and at 100; static-N3 0.26 at 10, 0.25
    # at 100), so 20 steps sit on the flat part. EOT is not flat at 4 samples: dynamic-N3 falls 0.11 -> 0.07 -> 0.05
    # from 1 to 4 to 16 samples and 5 restarts take it from 0.12 to 0.07, all inside each other's intervals at this n;
    # the quick numbers of the EOT rows are therefore upper bounds by a few points (full: 32 samples, 100 steps).
    eot_samples: int = 4
    pgd_steps: int = 20
    eot_steps: int = 10  # PGD steps of the EOT attacks (each step costs eot_samples passes)
    eot_samples_strong: int = 32  # EOT samples of the study's eot32-bpda-pgd group
    fixed_qf: int = 40  # the fixed-QF dynamic defense of the ablation
    aa_iters: int = 10  # AutoAttack rand: APGD iterations ... (the authors' rand defaults, 100 and 20, are the
    aa_eot_iter: int = 2  # ... and EOT samples per iteration   full profile's; quick would take hours on CPU)
    grid_workers: int = 2  # local processes of one thread each (2 cores: ~2x one process of two threads)
    qf_range: tuple[int, int] = (20, 60)  # the legacy code's 40 +- 20
    ns: tuple[int, ...] = (1, 3, 5)  # N of the defenses in the grid
    sweep_ns: tuple[int, ...] = (3,)  # N swept over every budget (the others at the reference budgets only)
    linf_budgets: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    l2_budgets: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)  # normalized L2: ||x'-x|| / ||x||
    ref_linf: float = 0.1  # budget of the single-budget cells (black-box, AutoAttack, N ablation)
    ref_l2: float = 0.2
    cw_steps: int = 20
    cw_binary_steps: int = 3
    deepfool_steps: int = 20
    # DeepFool linearizes toward the `candidates` most likely classes, one backward pass each per step; the 4 most
    # likely of Fashion-MNIST's 10 are where its boundary lies (Foolbox: "a small value is usually sufficient")
    deepfool_candidates: int = 4
    square_queries: int = 300
    nattack_iters: int = 20
    nattack_pop: int = 20
    hsj_steps: int = 5
    hsj_grad_evals: int = 25  # HopSkipJump's initial gradient-estimation queries (Foolbox's default 100, as in full)
    hsj_init_steps: int = 25  # binary-search steps toward the starting point (full: 50)
    groups: tuple[str, ...] = ()  # the cell groups (cnr.eval.groups) of the grid; empty: every registered group
    eot_sweep: bool = True  # EOT-BPDA at every budget (False: at the reference budgets only, where cells are costly)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for metadata and results rows."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", clf_epochs=1, clf_train_limit=2000, clf_eval_limit=500,
        argan_preset="quick", argan_pretrain_steps=20, argan_pretrain_steps_by_qf=(), argan_gan_steps=10,
        argan_batch=8, restoration_n=64,
        n_eval=16, n_costly=8, draws=2, eot_samples=2, pgd_steps=5, eot_steps=3, cw_steps=5, cw_binary_steps=1,
        deepfool_steps=5, square_queries=40, nattack_iters=5, nattack_pop=20, hsj_steps=2, aa_iters=5, aa_eot_iter=2,
        linf_budgets=(0.1, 0.3), l2_budgets=(0.2, 0.5),
    ),
    "quick": Profile(name="quick"),
    # The paper's code path on a CPU: an ImageNet classifier (EfficientNet-Lite0, offline) at 224 px, Foolbox's
    # ImageNet images plus held-out corpus crops (cnr.eval.protocol.imagenet_cpu_images), the paper's budgets and
    # the attacks of its legacy table. Its bank is the natural one of `argan_preset_natural`.
    "imagenet": Profile(
        name="imagenet", dataset="imagenet-cpu", classifier="efficientnet-lite0", n_eval=50, n_costly=50, draws=3,
        pgd_steps=10, eot_steps=5, eot_samples=4, ns=(3,), sweep_ns=(3,),
        linf_budgets=(2 / 255, 4 / 255, 8 / 255, 16 / 255), l2_budgets=(0.01, 0.03, 0.05, 0.08),
        ref_linf=4 / 255, ref_l2=0.05, square_queries=500, hsj_steps=5, hsj_grad_evals=25, hsj_init_steps=25,
        groups=("clean", "bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "square", "hsj"), eot_sweep=False,
    ),
    # Dynamic vs static with the paper's generator (64 channels x 16 blocks): the decisive cells and the attacks
    # aimed at the dynamic bank itself, on the same images; `--set argan_preset=quick` runs the quick bank beside it.
    "study": Profile(
        name="study", argan_preset="paper", ns=(3,), sweep_ns=(3,), linf_budgets=(0.05, 0.1), l2_budgets=(0.2,),
        groups=("clean", "bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "autoattack-rand", "expected-bpda-pgd",
                "transfer-static-pgd", "eot32-bpda-pgd", "margin-bpda-pgd"),
    ),
    "full": Profile(
        name="full", device="auto", argan_preset="paper", argan_preset_natural="paper",
        argan_natural_train=(), argan_pretrain_steps=20000,
        argan_pretrain_steps_by_qf=(),
        argan_gan_steps=10000, restoration_n=10000, n_eval=10000, n_costly=1000, draws=10, eot_samples=32,
        pgd_steps=100, eot_steps=100, square_queries=5000, nattack_iters=400, nattack_pop=300, hsj_steps=40, cw_steps=1000,
        cw_binary_steps=5, deepfool_steps=50, deepfool_candidates=10, hsj_grad_evals=100, hsj_init_steps=50,
        aa_iters=100, aa_eot_iter=20, grid_workers=1,
        sweep_ns=(1, 3, 5),
    ),
    "paper": Profile(
        name="paper", dataset="imagenet", classifier="resnet50", device="auto",
        argan_preset="paper", argan_preset_natural="paper", argan_natural_train=(), argan_patch=128, argan_pretrain_steps=50000, argan_pretrain_steps_by_qf=(),
        argan_gan_steps=50000, argan_batch=16,
        restoration_n=1000, n_eval=1000, n_costly=1000, draws=10, eot_samples=32, pgd_steps=100, eot_steps=100,
        linf_budgets=(2 / 255, 4 / 255, 8 / 255, 16 / 255), l2_budgets=(0.01, 0.03, 0.05, 0.08), ref_linf=4 / 255,
        ref_l2=0.05, square_queries=5000, nattack_iters=400, nattack_pop=300, hsj_steps=40, cw_steps=1000,
        cw_binary_steps=5, deepfool_steps=50, deepfool_candidates=10, hsj_grad_evals=100, hsj_init_steps=50,
        aa_iters=100, aa_eot_iter=20, grid_workers=1,
        sweep_ns=(1, 3, 5),
    ),
}


def get_profile(name: str, **overrides: Any) -> Profile:
    """A registered profile by name with fields overridden (unknown fields are an error); the run boundary's helper."""
    if name not in PROFILES:
        raise unknown_name("profile", name, PROFILES)
    bad = sorted(set(overrides) - FIELDS)
    if bad:
        raise unknown_name("profile field", bad[0], sorted(FIELDS))
    for key, value in overrides.items():
        check_field(key, value)
    return replace(PROFILES[name], **overrides)


FIELDS = frozenset(f.name for f in fields(Profile)) - {"name"}


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a plain value fits a field's type hint (int, float, str, bool, X | None, tuple[...])."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(_conforms(v, a) for v, a in zip(value, args))
    return True


def check_field(key: str, value: Any) -> None:
    """Refuse a value whose type does not match the profile field (InputError naming field, value and type)."""
    hint = typing.get_type_hints(Profile)[key]
    if not _conforms(value, hint):
        raise InputError(f"profile field {key} takes {_type_name(hint)}, got {value!r}")
    problem = _value_problem(key, value)
    if problem:
        raise InputError(f"profile field {key}: {problem}, got {value!r}")


# Counts that may be zero (no GAN phase, no seed offset); every other integer field is a count of at least 1.
ZERO_OK = {"seed", "argan_gan_steps"}


def _value_problem(key: str, value: Any) -> str | None:
    """Why a well-typed value still makes no sense (a zero count, a QF range upside down), or None."""
    if key == "qf_range":
        lo, hi = value
        return None if 1 <= lo <= hi <= 100 else "needs 1 <= lo <= hi <= 100"
    if key in ("argan_qfs", "ns", "sweep_ns") and not value:
        return "needs at least one value"
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int) and v < (0 if key in ZERO_OK else 1):
            return "must be >= 0" if key in ZERO_OK else "must be a positive integer"
        if isinstance(v, float) and not v >= 0:
            return "must be a number >= 0"
        if key == "fixed_qf" and not 1 <= v <= 100 or key == "argan_qfs" and not 1 <= v <= 100:
            return "quality factors lie in 1..100"
    return None


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _listify(v: Any) -> Any:
    return tuple(_listify(x) for x in v) if isinstance(v, (list, tuple)) else v


def parse_override(item: str) -> tuple[str, Any]:
    """'n_eval=100' -> ('n_eval', 100): the value is a Python literal, type-checked against the profile field."""
    if "=" not in item:
        raise InputError(f"--set takes field=value (e.g. n_eval=100), got {item!r}")
    key, text = (t.strip() for t in item.split("=", 1))
    if key not in FIELDS:
        raise unknown_name("profile field", key, sorted(FIELDS))
    hint = typing.get_type_hints(Profile)[key]
    try:
        value = _listify(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        value = text  # a bare word is a string
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    check_field(key, value)
    return key, value

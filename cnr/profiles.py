"""The run profiles: one set of parameters that the notebooks, the CLI and the tests all read (resolved by cnr.run)."""
from __future__ import annotations

import ast
import math
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
    # every per-QF file gets the static's 499 CPU-s for the price of one. The shipped bank took 1,195 CPU-s (static
    # 499, per-QF 111-122 each; 38 min of wall on the loaded machine); its validation gain had levelled off at every
    # QF by 500 fine-tuning steps (cnr/shipped metadata: history), so more steps of this network buy little.
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
    n_costly: int = 200  # EOT, AutoAttack, C&W, DeepFool
    n_blackbox: int | None = None  # Square, Nattack, HopSkipJump (None: n_costly)
    draws: int = 5  # fresh draws of a random defense on the final adversarials
    # Convergence on the quick bank (results/quick/tables/convergence.csv, benchmarks/convergence.py: 200 images,
    # Linf 0.05 and 0.1, worst case over 5 draws, 95% Wilson intervals): BPDA-PGD is flat from 10 steps (at Linf 0.1
    # dynamic-N3 0.085 at 10 and 20, 0.075 [0.046, 0.120] at 200; static-N3 0.26 at 20 and at 200), so 20 steps sit on
    # the flat part; 5 restarts lie inside the one-restart interval everywhere. EOT is the setting that is not
    # flat: on dynamic-N3 at Linf 0.1, 4 samples leave 0.050 and 32 leave 0.015 [0.005, 0.043] (flat from 8); at
    # Linf 0.05 and on static-N3, 4 samples are inside the 32-sample interval. The quick EOT rows of dynamic-N3 are
    # therefore upper bounds by about 3.5 points at Linf 0.1 (the ensemble takes the per-image minimum with the other
    # attacks; `full` uses 32 samples).
    eot_samples: int = 4
    pgd_steps: int = 20
    eot_steps: int = 10  # PGD steps of the EOT attacks (each step costs eot_samples passes)
    eot_samples_strong: int = 32  # EOT samples of the study's eot-strong-bpda-pgd group
    fixed_qf: int | None = 40  # the fixed-QF dynamic defense of the ablation (None: no such defense)
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
    square_norms: tuple[str, ...] = ("linf", "l2")  # Square at the reference budget of each of these norms
    nattack_iters: int = 20
    nattack_pop: int = 20
    hsj_steps: int = 5
    hsj_grad_evals: int = 25  # HopSkipJump's initial gradient-estimation queries (Foolbox's default 100, as in full)
    hsj_init_steps: int = 25  # binary-search steps toward the starting point (full: 50)
    groups: tuple[str, ...] = ()  # the cell groups (cnr.eval.groups) of the grid; empty: every registered group
    eot_sweep: bool = True  # EOT-BPDA at every budget (False: at the reference budgets only, where cells are costly)
    # the decisive groups (BPDA-PGD, EOT-BPDA, generalized BPDA, AutoAttack rand) at every budget against every
    # defense, the fixed-QF one included (the study's side-by-side cells; False: each group's own budgets/defenses)
    decisive_sweep: bool = False
    # the notebooks `cnr reproduce` runs, by number; 05 (the study's) belongs to the study profile
    notebooks: tuple[str, ...] = ("00", "01", "02", "03", "04")  # empty: every notebook
    # the mechanism measurements of the study (cnr.eval.mechanism.run_mechanism): images, the Ns of its defenses,
    # draws of the cross-draw cosine, draws of the EOT reference gradient
    mechanism_n: int = 64
    mechanism_ns: tuple[int, ...] = (1, 3, 5)
    mechanism_draws: int = 8
    mechanism_reference: int = 32

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for metadata and results rows."""
        return asdict(self)

    def sample_sizes(self) -> dict[str, int]:
        """Images per cell for each sample of the grid (cnr.eval.specs.SAMPLES): what an attack group runs on."""
        return {"eval": self.n_eval, "costly": self.n_costly,
                "blackbox": self.n_costly if self.n_blackbox is None else self.n_blackbox}


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", clf_epochs=1, clf_train_limit=2000, clf_eval_limit=500,
        argan_preset="quick", argan_pretrain_steps=20, argan_pretrain_steps_by_qf=(), argan_gan_steps=10,
        argan_batch=8, restoration_n=64,
        n_eval=16, n_costly=8, draws=2, eot_samples=2, pgd_steps=5, eot_steps=3, cw_steps=5, cw_binary_steps=1,
        deepfool_steps=5, square_queries=40, nattack_iters=5, nattack_pop=20, hsj_steps=2, aa_iters=5, aa_eot_iter=2,
        linf_budgets=(0.1, 0.3), l2_budgets=(0.2, 0.5), notebooks=(), mechanism_n=8, mechanism_ns=(1, 3),
        mechanism_draws=2, mechanism_reference=4,
    ),
    "quick": Profile(name="quick"),
    # The paper's code path on a CPU: an ImageNet classifier (EfficientNet-Lite0, offline) at 224 px, Foolbox's
    # ImageNet images plus held-out corpus crops (cnr.eval.protocol.imagenet_cpu_images), the paper's budgets and
    # the attacks of its legacy table. Its bank is the natural one of `argan_preset_natural`. Sized to about 45
    # minutes on 2 cores (the README has the measured cost of every cell): BPDA-PGD at all 8 budgets (the curve), EOT
    # and generalized BPDA at the reference budgets only; the black-box attacks pay the restorer per query, so they
    # run on 10 images, HopSkipJump at the L2 budget (the legacy table's norm) and Square at the Linf one (its own
    # norm: L2 Square leaves even the legacy table's bare ResNet-50 at 19.8% after 5,000 queries at 0.05). No
    # fixed-QF defense (the quick profile has it).
    "imagenet": Profile(
        name="imagenet", dataset="imagenet-cpu", classifier="efficientnet-lite0", n_eval=50, n_costly=50,
        n_blackbox=10, draws=3, pgd_steps=10, eot_steps=5, eot_samples=4, ns=(3,), sweep_ns=(3,), fixed_qf=None,
        linf_budgets=(2 / 255, 4 / 255, 8 / 255, 16 / 255), l2_budgets=(0.01, 0.03, 0.05, 0.08),
        ref_linf=4 / 255, ref_l2=0.05, square_queries=500, square_norms=("linf",), hsj_steps=5, hsj_grad_evals=25,
        hsj_init_steps=25, groups=("clean", "bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "square", "hsj"),
        eot_sweep=False, notebooks=("03", "04"),
    ),
    # Dynamic vs static with the paper's generator (64 channels x 16 blocks), notebook 05: the decisive cells at Linf
    # 0.05 / 0.1 and L2 0.2 against every defense (`decisive_sweep`) and the attacks aimed at the dynamic bank
    # itself, on the same images; `--set argan_preset=quick` runs the quick bank beside it. Its strong EOT takes 16
    # samples per step: the quick bank's EOT curve is flat from 8 (convergence note above), and through the
    # paper-preset generator its 16 x 10 cells on 200 images take 1,521-1,765 s each on one worker (the grid's own
    # wall_s, results/study), so 32 samples would take about an hour for each of its 4 cells.
    "study": Profile(
        name="study", argan_preset="paper", ns=(3,), sweep_ns=(3,), linf_budgets=(0.05, 0.1), l2_budgets=(0.2,),
        eot_samples_strong=16, decisive_sweep=True,
        groups=("clean", "bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "autoattack-rand", "expected-bpda-pgd",
                "transfer-static-pgd", "eot-strong-bpda-pgd", "margin-bpda-pgd"),
        notebooks=("05",),
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
    return check_profile(replace(PROFILES[name], **overrides))


def _check_model_fits_data(p: Profile) -> None:
    """A gray classifier on RGB photos (or the reverse) fails at the first image: refuse the pair up front."""
    from cnr.classifiers import CLASSIFIERS
    from cnr.data import BANK_FAMILY

    family = BANK_FAMILY.get(p.dataset)
    want = CLASSIFIERS[p.classifier].channels if p.classifier in CLASSIFIERS else None
    have = None if family is None else (1 if family == "fmnist" else 3)
    if want is not None and have is not None and want != have:
        raise InputError(f"profile fields classifier={p.classifier!r} and dataset={p.dataset!r} do not fit: the "
                         f"classifier expects {want}-channel images, the dataset has {have}-channel ones")


def check_profile(p: Profile) -> Profile:
    """What no single field can say: N swept among the grid's, model fits data, sample sizes within the dataset,
    per-QF steps only for QFs the bank trains."""
    stray_n = [n for n in p.sweep_ns if n not in p.ns]
    if stray_n:
        raise InputError(f"profile field sweep_ns names N={stray_n[0]}, which is not among the grid's ns {p.ns}; "
                         f"sweep an N of ns (or add it to ns)")
    _check_model_fits_data(p)
    from cnr.data import check_sample_size

    for key in ("n_eval", "n_costly", "n_blackbox"):
        if getattr(p, key) is not None:
            check_sample_size(p.dataset, getattr(p, key), f"profile field {key}")
    check_sample_size("fmnist", p.restoration_n, "profile field restoration_n (Fashion-MNIST test images)")
    bank = set(p.argan_qfs) | {"static"}
    stray = [qf for qf, _ in p.argan_pretrain_steps_by_qf if qf not in bank]
    if stray:
        raise InputError(f"profile field argan_pretrain_steps_by_qf names QF {stray[0]!r}, which the bank does not "
                         f"train; argan_qfs is {p.argan_qfs} (and 'static')")
    return p


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
    nested = _nested_problem(key, value)  # says which part of the value is wrong, so no "got" for the whole
    if nested:
        raise InputError(f"profile field {key}: {nested}")
    problem = _value_problem(key, value)
    if problem:
        raise InputError(f"profile field {key}: {problem}, got {value!r}")


# Counts that may be zero (no GAN phase, no seed offset); every other integer field is a count of at least 1.
ZERO_OK = {"seed", "argan_gan_steps"}


# Fields that list a set: a value given twice would run (or train) the same thing twice, or hide a typo.
NO_DUPLICATES = ("argan_qfs", "ns", "sweep_ns", "linf_budgets", "l2_budgets", "groups", "square_norms", "notebooks",
                 "mechanism_ns")
PRESET_FIELDS = ("argan_preset", "argan_preset_natural")
PROFILE_DATASETS = ("imagenet", "imagenet-cpu")  # evaluation protocols of cnr.eval.protocol, beside cnr.data's
LINF_FIELDS = ("linf_budgets", "ref_linf")  # pixels of [0, 1] images: a budget above 1 is the same as 1


def _natural_train_limits() -> dict[str, Any]:
    """The train_argan settings `argan_natural_train` may set, with their ranges (cnr.argan.train's arguments)."""
    from cnr.parsing import FLAG, choice_limit, count_limit, number_limit

    # pretrain_steps_by_qf is checked as argan_pretrain_steps_by_qf is; warm_start is cnr.argan.pipeline's
    return {"pixel": choice_limit("l1", "l2"), "ssim_weight": number_limit(0), "lr": number_limit(0, lo_open=True),
            "perceptual_weight": number_limit(0), "adv_weight": number_limit(0), "patch": count_limit(4),
            "gan_steps": count_limit(0), "pretrain_steps": count_limit(1), "warm_start": FLAG,
            "pretrain_steps_by_qf": None}


def _pairs_problem(key: str, value: tuple) -> str | None:
    """Duplicate keys of a field made of (key, value) pairs."""
    names = [k for k, _ in value]
    twice = sorted({repr(k) for k in names if names.count(k) > 1})
    return f"gives {', '.join(twice)} more than once in {value!r}; give each once" if twice else None


def _nested_problem(key: str, value: Any) -> str | None:
    """The fields whose values are themselves structured: per-QF steps, train settings, preset names."""
    from cnr.parsing import check_limits

    if key in PRESET_FIELDS:
        from cnr.argan.generator import PRESETS

        return None if value in PRESETS else (f"unknown generator preset {value!r}; valid presets: "
                                              f"{', '.join(sorted(PRESETS))}")
    if key == "argan_pretrain_steps_by_qf":
        for qf, steps in value:
            if qf != "static" and (isinstance(qf, str) or not 1 <= qf <= 100):
                return f"QF {qf!r} is neither a quality factor in 1..100 nor 'static', in {value!r}"
            if steps < 1:
                return f"QF {qf!r} has {steps} pre-training steps; steps must be a positive integer, in {value!r}"
        return _pairs_problem(key, value)
    if key == "argan_natural_train":
        limits = _natural_train_limits()
        for name, _ in value:
            if name not in limits:
                return f"unknown setting {name!r}; valid settings: {', '.join(sorted(limits))}"
        settings = dict(value)
        by_qf = settings.pop("pretrain_steps_by_qf", ())
        if not isinstance(by_qf, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in by_qf):
            return f"pretrain_steps_by_qf takes (qf, steps) pairs, got {by_qf!r}"
        try:
            check_limits(settings, {k: v for k, v in limits.items() if v is not None}, "setting")
        except InputError as e:
            return str(e)
        return _nested_problem("argan_pretrain_steps_by_qf", by_qf) or _pairs_problem(key, value)
    if key == "dataset":
        from cnr.data import DATASETS

        valid = {*DATASETS, *PROFILE_DATASETS}
        return None if value in valid else f"unknown dataset {value!r}; valid datasets: {', '.join(sorted(valid))}"
    if key == "classifier":
        from cnr.classifiers import CLASSIFIERS

        return None if value in CLASSIFIERS else (f"unknown classifier {value!r}; valid classifiers: "
                                                  f"{', '.join(sorted(CLASSIFIERS))}")
    if key == "groups":
        from cnr.eval.groups import GROUPS  # the registry as it stands now (register_group may have added some)

        unknown = [g for g in value if g not in GROUPS]
        if unknown:
            return f"unknown cell group {unknown[0]!r}; known groups: {', '.join(GROUPS)}"
    if key == "notebooks":
        from cnr.paths import NOTEBOOK_DIR

        known = sorted(b.name[:2] for b in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
        stray = [v for v in value if v not in known]
        if stray:
            return f"names notebook {stray[0]!r}, which is not one of the notebooks {', '.join(known)}"
    if key == "square_norms":
        stray = [v for v in value if v not in ("linf", "l2")]
        if stray:
            return f"unknown norm {stray[0]!r}; Square runs at 'linf' and/or 'l2'"
    if key in NO_DUPLICATES and len(set(value)) != len(value):
        twice = sorted({repr(v) for v in value if value.count(v) > 1})
        return f"lists {', '.join(twice)} more than once in {value!r}; give each value once"
    return None


def _value_problem(key: str, value: Any) -> str | None:
    """Why a well-typed value still makes no sense (a zero count, a QF range upside down), or None."""
    if key in ("argan_pretrain_steps_by_qf", "argan_natural_train"):
        return None
    if key == "seed":
        from cnr.parsing import SEED_MAX

        return None if 0 <= value <= SEED_MAX else f"must be an integer seed in 0..{SEED_MAX}"
    if key == "qf_range":
        lo, hi = value
        return None if 1 <= lo <= hi <= 100 else "needs 1 <= lo <= hi <= 100"
    if key in ("argan_qfs", "ns", "sweep_ns", "mechanism_ns") and not value:
        return "needs at least one value"
    if key == "mechanism_draws" and isinstance(value, int) and value < 2:
        return "needs at least 2 (the cosine between two independent draws)"
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int) and v < (0 if key in ZERO_OK else 1):
            return "must be >= 0" if key in ZERO_OK else "must be a positive integer"
        if isinstance(v, float) and not (v >= 0 and math.isfinite(v)):
            return "must be a finite number >= 0"
        if key in LINF_FIELDS and v > 1:
            return f"Linf budgets are pixels of [0, 1] images, so {v:g} means nothing more than 1; use at most 1"
        if key == "fixed_qf" and not 1 <= v <= 100 or key == "argan_qfs" and not 1 <= v <= 100:
            return "quality factors lie in 1..100"
    return None


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def as_tuples(v: Any) -> Any:
    """Lists (JSON, Papermill parameters) as the tuples profile fields hold, at any depth."""
    return tuple(as_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def parse_override(item: str) -> tuple[str, Any]:
    """'n_eval=100' -> ('n_eval', 100): the value is a Python literal, type-checked against the profile field."""
    if "=" not in item:
        raise InputError(f"--set takes field=value (e.g. n_eval=100), got {item!r}")
    key, text = (t.strip() for t in item.split("=", 1))
    if key not in FIELDS:
        raise unknown_name("profile field", key, sorted(FIELDS))
    hint = typing.get_type_hints(Profile)[key]
    try:
        value = as_tuples(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        value = text  # a bare word is a string
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    check_field(key, value)
    return key, value

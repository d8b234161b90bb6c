"""The parts a profile is made of, one per subsystem, each setting's allowed values declared beside it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnr.config.schema import Part, setting
from cnr.config.training import PATCH, TRAIN_LIMITS
from cnr.parsing import FLAG, QF_MAX, QF_MIN, SEED_MAX, Limit, check_limits, choice_limit, count_limit, number_limit

COUNT = count_limit(1)
COUNT0 = count_limit(0)
QF = Limit("int", lo=QF_MIN, hi=QF_MAX)
N_MAX = 100  # (Compress and Restore)^N iterations: past the paper's few, each only adds run time
N = Limit("int", lo=1, hi=N_MAX)
LINF = number_limit(0, 1)  # pixels of [0, 1] images: more than 1 means nothing more than 1
BUDGET = number_limit(0)
SEED = Limit("int", lo=0, hi=SEED_MAX)
QF_SET: tuple[int, ...] = (5, 10, 20, 30, 40, 60)  # the quality factors of the authors' AR-GAN bank


@dataclass(frozen=True)
class Data(Part):
    """What is classified: the evaluation data set and the classifier (names checked by cnr.preflight)."""

    section = "data"
    dataset: str = "fmnist"
    classifier: str = "fmnist-cnn"


@dataclass(frozen=True)
class Compute(Part):
    """How the grid's models do their arithmetic: float32, or bf16 autocast (cnr.precision), and the classifier's
    memory layout; the selection of a protocol's images always runs in float32."""

    section = "compute"
    # bf16-restorers: the bank's generators in bf16, the classifier in float32 (an undefended row stays float32's)
    precision: str = setting("fp32", choice_limit("fp32", "bf16", "bf16-restorers"))
    channels_last: bool = False  # the classifier's; a bank's generators are channels_last on CPU already


@dataclass(frozen=True)
class Samples(Part):
    """How many images each kind of measurement uses, and the fresh draws that score a random defense."""

    section = "samples"
    eval: int = setting(500, COUNT)  # BPDA and oblivious attacks
    costly: int = setting(200, COUNT)  # EOT, AutoAttack, C&W, DeepFool
    blackbox: int | None = setting(None, COUNT)  # Square, Nattack, HopSkipJump (None: `costly`)
    restoration: int = setting(1000, COUNT)  # Fashion-MNIST test images of the restoration table
    draws: int = setting(5, COUNT)  # fresh draws of a random defense on the final adversarials

    def sizes(self) -> dict[str, int]:
        """Images per cell for each sample of the grid (cnr.cells.specs.SAMPLES)."""
        return {"eval": self.eval, "costly": self.costly,
                "blackbox": self.costly if self.blackbox is None else self.blackbox}


@dataclass(frozen=True)
class ClassifierTraining(Part):
    """Training the kit's own Fashion-MNIST classifier (notebook 01, `cnr train-classifier`)."""

    section = "clf"
    epochs: int = setting(10, COUNT)
    batch: int = setting(128, COUNT)
    train_limit: int | None = setting(None, COUNT)  # None: the whole training split
    eval_limit: int | None = setting(None, COUNT)


# train_argan's settings a natural bank may set: their ranges are train_argan's own (one declaration)
NATURAL_TRAIN_LIMITS: dict[str, Limit] = {
    **{k: TRAIN_LIMITS[k] for k in ("pixel", "ssim_weight", "lr", "perceptual_weight", "adv_weight", "patch",
                                    "gan_steps", "pretrain_steps")},
    "warm_start": FLAG}


def _steps_by_qf_problem(value: tuple, qfs: tuple[int, ...]) -> str | None:
    """Per-QF step counts name a QF of the bank (or 'static') once each, with at least one step."""
    names = [qf for qf, _ in value]
    for qf, steps in value:
        if qf != "static" and qf not in qfs:
            return f"pretrain_steps_by_qf names QF {qf!r}, which the bank does not train; qfs is {qfs} (and 'static')"
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            return f"pretrain_steps_by_qf gives QF {qf!r} {steps!r} steps; steps must be a positive integer"
    twice = sorted({repr(q) for q in names if names.count(q) > 1})
    return f"pretrain_steps_by_qf gives {', '.join(twice)} more than once" if twice else None


@dataclass(frozen=True)
class BankTraining(Part):
    """The AR-GAN banks: generator presets, the QFs trained, and the training recipe."""

    section = "bank"
    preset: str = "quick"  # Fashion-MNIST bank (names checked by cnr.preflight)
    preset_natural: str = "quick-residual"  # RGB photo bank
    # train_argan settings of the natural bank (keys: NATURAL_TRAIN_LIMITS, plus pretrain_steps_by_qf); the recipe
    # and why: benchmarks/choose_natural_preset.py and benchmarks/NOTES.md
    natural_train: tuple[tuple[str, Any], ...] = (
        ("pixel", "l2"), ("ssim_weight", 0.0), ("lr", 5e-4), ("patch", 48), ("gan_steps", 0), ("warm_start", True),
        ("pretrain_steps", 1500), ("pretrain_steps_by_qf", (("static", 6000),)))
    qfs: tuple[int, ...] = setting(QF_SET, QF, unique=True, nonempty=True)
    pretrain_steps: int = setting(2000, COUNT)
    gan_steps: int = setting(500, COUNT0)
    # QF 60 needs a near-identity through the 2x2 pooling: more steps (benchmarks/NOTES.md)
    pretrain_steps_by_qf: tuple[tuple[int | str, int], ...] = ((60, 6000),)
    batch: int = setting(32, COUNT)
    patch: int = setting(32, PATCH)  # natural-photo patches; Fashion-MNIST trains on whole 28x28 images

    def rule(self) -> str | None:
        problem = _steps_by_qf_problem(self.pretrain_steps_by_qf, self.qfs)
        if problem:
            return problem
        names = [k for k, _ in self.natural_train]
        twice = sorted({k for k in names if names.count(k) > 1})
        if twice:
            return f"natural_train gives {', '.join(twice)} more than once"
        settings = dict(self.natural_train)
        stray = sorted(set(settings) - set(NATURAL_TRAIN_LIMITS) - {"pretrain_steps_by_qf"})
        if stray:
            return (f"natural_train has unknown setting {stray[0]!r}; valid settings: "
                    f"{', '.join(sorted([*NATURAL_TRAIN_LIMITS, 'pretrain_steps_by_qf']))}")
        by_qf = settings.pop("pretrain_steps_by_qf", ())
        if not isinstance(by_qf, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in by_qf):
            return f"natural_train's pretrain_steps_by_qf takes (qf, steps) pairs, got {by_qf!r}"
        check_limits(settings, NATURAL_TRAIN_LIMITS, "profile bank.natural_train setting")
        return _steps_by_qf_problem(by_qf, self.qfs)


@dataclass(frozen=True)
class Grid(Part):
    """The grid's shape: which defenses (QF range, Ns), budgets, cell groups, and how many worker processes."""

    section = "grid"
    qf_range: tuple[int, int] = setting((20, 60), QF)  # the authors' 40 +- 20
    ns: tuple[int, ...] = setting((1, 3, 5), N, unique=True, nonempty=True)  # N of the grid's defenses
    sweep_ns: tuple[int, ...] = setting((3,), N, unique=True, nonempty=True)  # N swept over every budget
    fixed_qf: int | None = setting(40, QF)  # the fixed-QF dynamic defense of the ablation (None: none)
    # the legacy code's layout (cnr.defenses.legacy): JPEG alone at one fixed QF, and dynamic defenses whose drawn QF
    # is served by the nearest of only these QFs' restorers (each None / empty: no such defense)
    jpeg_fixed_qf: int | None = setting(None, QF)
    nearest_bank: tuple[int, ...] = setting((), QF, unique=True)
    linf_budgets: tuple[float, ...] = setting((0.05, 0.1, 0.2, 0.3), LINF, unique=True)
    l2_budgets: tuple[float, ...] = setting((0.1, 0.2, 0.3, 0.5), BUDGET, unique=True)  # ||x'-x|| / ||x||
    ref_linf: float = setting(0.1, LINF)  # the single-budget cells (black-box, AutoAttack, N ablation)
    ref_l2: float = setting(0.2, BUDGET)
    groups: tuple[str, ...] = setting((), unique=True)  # cell groups (cnr.cells.groups); empty: the default ones
    square_norms: tuple[str, ...] = setting(("linf", "l2"), choice_limit("linf", "l2"), unique=True)
    eot_sweep: bool = True  # EOT-BPDA at every budget (False: at the reference budgets only)
    # the Linf budgets of the margin EOT-BPDA (opt-in group margin-eot-bpda-pgd); empty: the reference one
    margin_linf: tuple[float, ...] = setting((), LINF, unique=True)
    # the decisive groups at every budget against every main and fixed-QF defense (the study's side-by-side cells)
    decisive_sweep: bool = False
    workers: int = setting(2, COUNT)  # local processes of one thread each (2 cores: ~2x one of two threads)

    def rule(self) -> str | None:
        lo, hi = self.qf_range
        if lo > hi:
            return f"qf_range must have lo <= hi, got {self.qf_range}; did you mean {(hi, lo)}?"
        stray = [n for n in self.sweep_ns if n not in self.ns]
        if stray:
            return f"sweep_ns names N={stray[0]}, which is not among the grid's ns {self.ns}; sweep an N of ns"
        off = [b for b in self.margin_linf if b not in self.linf_budgets]
        if off:
            return (f"margin_linf names Linf {off[0]:g}, which is not among linf_budgets {self.linf_budgets}; "
                    "set grid.margin_linf to some of them (or to () for the reference budget) with the budgets")
        return None


@dataclass(frozen=True)
class Mechanism(Part):
    """The study's mechanism measurements (cnr.studies.mechanism): images, Ns, cross-draw draws, EOT reference draws."""

    section = "mechanism"
    n: int = setting(64, COUNT)
    ns: tuple[int, ...] = setting((1, 3, 5), N, unique=True, nonempty=True)
    draws: int = setting(8, count_limit(2))  # the cosine between two independent draws needs two
    reference: int = setting(32, COUNT)

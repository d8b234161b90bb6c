"""The registered profiles: one set of settings that the notebooks, the CLI and the tests all read."""
from __future__ import annotations

import copy
from typing import Any

from cnr.config.parts import BankTraining, ClassifierTraining, Compute, Data, Grid, Mechanism, Samples
from cnr.config.profile import AttackSettings, Profile, with_settings
from cnr.errors import InputError, unknown_name


def attack_settings(pgd_steps: int, eot: tuple[int, int], eot_strong: int, **per_attack: dict[str, Any]
                    ) -> AttackSettings:
    """A profile's attack mapping: PGD's steps, the EOT groups' (samples, steps), and each other attack's params."""
    samples, steps = eot
    return {"pgd": {"steps": pgd_steps},
            "eot-bpda-pgd": {"eot": samples, "steps": steps}, "eot-diffjpeg-pgd": {"eot": samples, "steps": steps},
            "eot-strong-bpda-pgd": {"eot": eot_strong, "steps": steps}, **per_attack}


# Effort at the quick profile's scale; why these (convergence on the quick bank): benchmarks/convergence.py and
# benchmarks/NOTES.md. The paper's settings are the `full` profile's.
QUICK_ATTACKS = attack_settings(
    20, (4, 10), 32, deepfool={"steps": 20, "candidates": 4}, cw={"binary_steps": 3, "steps": 20},
    square={"n_queries": 300}, nattack={"iterations": 20, "population": 20},
    hsj={"steps": 5, "initial_gradient_eval_steps": 25, "init_steps": 25},
    autoattack_rand={"n_iter": 10, "eot_iter": 2})
PAPER_ATTACKS = attack_settings(
    100, (32, 100), 32, deepfool={"steps": 50, "candidates": 10}, cw={"binary_steps": 5, "steps": 1000},
    square={"n_queries": 5000}, nattack={"iterations": 400, "population": 300},
    hsj={"steps": 40, "initial_gradient_eval_steps": 100, "init_steps": 50},
    autoattack_rand={"n_iter": 100, "eot_iter": 20})
IMAGENET_BUDGETS = dict(linf_budgets=(2 / 255, 4 / 255, 8 / 255, 16 / 255), l2_budgets=(0.01, 0.03, 0.05, 0.08),
                        ref_linf=4 / 255, ref_l2=0.05)
CONCLUSIVE = ("deepfool", "cw", "square")
LEGACY_GROUPS = ("legacy-clean", "legacy-hsj", "legacy-square")
LEGACY_WHITE_BOX = ("legacy-bpda-pgd", "legacy-eot-bpda-pgd")
LEGACY_RANDOMNESS = ("legacy-hsj-vote3", "legacy-hsj-vote9", "legacy-hsj-vote3-x3", "legacy-hsj-vote9-x9",
                     "legacy-hsj-fresh", "legacy-square-eot3", "legacy-square-eot9", "legacy-square-eot3-x3",
                     "legacy-square-eot9-x9")
STUDY_GROUPS = ("clean", "bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "autoattack-rand", "expected-bpda-pgd",
                "transfer-static-pgd", "eot-strong-bpda-pgd", "margin-bpda-pgd")


def _with(attacks: AttackSettings, **changes: dict[str, Any]) -> AttackSettings:
    """A copy of an attack mapping with some entries' parameters changed."""
    out = copy.deepcopy(attacks)
    for key, params in changes.items():
        out.setdefault(key, {}).update(params)
    return out


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", notebooks=(),
        clf=ClassifierTraining(epochs=1, train_limit=2000, eval_limit=500),
        bank=BankTraining(pretrain_steps=20, pretrain_steps_by_qf=(), gan_steps=10, batch=8),
        samples=Samples(eval=16, costly=8, draws=2, restoration=64),
        grid=Grid(linf_budgets=(0.1, 0.3), l2_budgets=(0.2, 0.5)),
        attacks=attack_settings(
            5, (2, 3), 32, deepfool={"steps": 5, "candidates": 4}, cw={"binary_steps": 1, "steps": 5},
            square={"n_queries": 40}, nattack={"iterations": 5, "population": 20},
            hsj={"steps": 2, "initial_gradient_eval_steps": 25, "init_steps": 25},
            autoattack_rand={"n_iter": 5, "eot_iter": 2}),
        mechanism=Mechanism(n=8, ns=(1, 3), draws=2, reference=4),
    ),
    # The restorers run in bf16 autocast, the classifier in float32 (cnr.precision; 1.3x on the grid, every row within
    # chance of float32: benchmarks/NOTES.md). A bf16 classifier would move the boundary-stopping attacks' rows of the
    # bare model beyond chance (DeepFool, HopSkipJump and Square end within bf16 rounding of its boundary).
    "quick": Profile(name="quick", attacks=QUICK_ATTACKS, compute=Compute(precision="bf16-restorers")),
    # The paper's code path on a CPU: EfficientNet-Lite0 at 224 px on ImageNet photos (cnr.data.protocol), the
    # paper's budgets, the natural bank. Sized for 2 cores (README: each cell's cost): BPDA-PGD at all 8 budgets,
    # EOT and generalized BPDA at the reference budgets; the black-box attacks pay the restorer per query, so they
    # run on 10 images, HopSkipJump at the L2 budget and Square at the Linf one (its own norm). The profile's PGD
    # settings are not converged at 224 px (benchmarks/convergence.py: EOT samples are what they lack), so a margin
    # EOT-BPDA joins the ensemble at the Linf budgets where anything survives BPDA-PGD, at 5 steps x 8 samples (the
    # sweep's flat part, as strong as 40 x 4 at a quarter of its passes). The models run in bf16 autocast with a
    # channels_last classifier (cnr.precision; 1.6x on the defended model, benchmarks/bench_layout_precision.py).
    "imagenet": Profile(
        name="imagenet", notebooks=("03", "04"),
        data=Data(dataset="imagenet-cpu", classifier="efficientnet-lite0"),
        compute=Compute(precision="bf16", channels_last=True),
        samples=Samples(eval=50, costly=50, blackbox=10, draws=3),
        grid=Grid(ns=(3,), sweep_ns=(3,), fixed_qf=None, square_norms=("linf",), eot_sweep=False,
                  margin_linf=(2 / 255, 4 / 255, 8 / 255),
                  groups=("clean", "bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "margin-eot-bpda-pgd", "square",
                          "hsj"),
                  **IMAGENET_BUDGETS),
        attacks=_with(attack_settings(10, (4, 5), 32, **{k: v for k, v in QUICK_ATTACKS.items() if "pgd" not in k}),
                      square={"n_queries": 500}, **{"margin-eot-bpda-pgd": {"steps": 5, "eot": 8}}),
    ),
    # Dynamic vs static with the paper's generator (64 channels x 16 blocks), notebook 05: the decisive cells at
    # Linf 0.05 / 0.1 and L2 0.2 against every defense and the attacks aimed at the dynamic bank, on the same
    # images; `--set bank.preset=quick` runs the quick bank beside it. Its strong EOT takes 16 samples per step
    # (the quick bank's EOT curve is flat from 8; cost per cell: benchmarks/NOTES.md).
    "study": Profile(
        name="study", notebooks=("05",), bank=BankTraining(preset="paper"),
        grid=Grid(ns=(3,), sweep_ns=(3,), linf_budgets=(0.05, 0.1), l2_budgets=(0.2,), decisive_sweep=True,
                  groups=STUDY_GROUPS),
        attacks=_with(QUICK_ATTACKS, **{"eot-strong-bpda-pgd": {"eot": 16}}),
    ),
    # The paper's settings for the attacks the quick grid runs too weak to break even the bare classifier (C&W,
    # DeepFool, Nattack, Square, HopSkipJump), on Fashion-MNIST with the quick bank: tables 5 and 6 from conclusive
    # rows (`make conclusive`), BPDA-PGD beside them as the white-box reference of the same budgets. The query
    # attacks stop an image once it is adversarial. Nattack searches in pixel space (in the authors' tanh space it
    # cannot move Fashion-MNIST's black background and leaves the bare model at 50%), its 300 x 400 capped at
    # 10,000 queries an image, twice Square's and HopSkipJump's (the cost of a robust image: benchmarks/NOTES.md).
    "conclusive": Profile(
        name="conclusive", notebooks=("03", "04"),
        samples=Samples(costly=100, blackbox=50),
        grid=Grid(ns=(3,), sweep_ns=(3,), fixed_qf=None, linf_budgets=(0.1,), l2_budgets=(0.2,),
                  groups=("clean", "bpda-pgd", "deepfool", "cw", "square", "nattack", "hsj")),
        attacks=_with(QUICK_ATTACKS, **{k: v for k, v in PAPER_ATTACKS.items() if k in CONCLUSIVE},
                      hsj={**PAPER_ATTACKS["hsj"], "max_queries": 5000},
                      nattack={**PAPER_ATTACKS["nattack"], "max_queries": 10000, "space": "pixel"}),
    ),
    "full": Profile(
        name="full", device="auto",
        bank=BankTraining(preset="paper", preset_natural="paper", natural_train=(), pretrain_steps=20000,
                          pretrain_steps_by_qf=(), gan_steps=10000),
        samples=Samples(eval=10000, costly=1000, draws=10, restoration=10000),
        grid=Grid(workers=1, sweep_ns=(1, 3, 5)),
        attacks=PAPER_ATTACKS,
    ),
    "paper": Profile(
        name="paper", device="auto",
        data=Data(dataset="imagenet", classifier="resnet50"),
        bank=BankTraining(preset="paper", preset_natural="paper", natural_train=(), patch=128, pretrain_steps=50000,
                          pretrain_steps_by_qf=(), gan_steps=50000, batch=16),
        samples=Samples(eval=1000, costly=1000, draws=10, restoration=1000),
        grid=Grid(workers=1, sweep_ns=(1, 3, 5), **IMAGENET_BUDGETS),
        attacks=PAPER_ATTACKS,
    ),
    # --- legacy protocol ---------------------------------------------------------------------------------------
    # The authors' black-box study (the legacy table, cnr/shipped/legacy_blackbox.csv): none, JPEG at QF 40, dynamic N=3
    # with QF from [20, 60] (the kit's full bank and, on Fashion-MNIST, the legacy 20/40/60 nearest-restorer layout);
    # HopSkipJump once per image, 5,000 queries, no budget (cnr.analysis.budget_curve reads every budget off its
    # smallest adversarials); Square L2, 5,000 queries, at each budget; notebook 06 (`make legacy`) runs the
    # Fashion-MNIST quick and paper banks (the paper bank's restorers in bf16: cnr.legacy.TRACKS) and `legacy-imagenet`,
    # resumable cell by cell.
    # HopSkipJump's 20 steps would take about 6,700 queries (10 took 2,488 on fmnist-cnn), so the 5,000-query budget
    # ends each image. legacy-imagenet: the kit's full natural bank only (the white-box grid's dynamic-N3; the
    # 20/40/60 layout doubles the defended cells: --set 'grid.nearest_bank=(20, 40, 60)'), HopSkipJump in batches of
    # 2 images (its gradient estimate holds up to ~450 copies of each 224 px image of a batch, 4 times over), Square
    # on all images at once (one copy each, and the defended model's per-image cost falls with the batch); its
    # white-box view is the imagenet grid's (same budgets, defense and first images); its HopSkipJump ends each result
    # 1e-4 of its distance past the boundary, since at 224 px the points Foolbox returns sit within float rounding of it
    # and change label with the batch they are scored in (benchmarks/hsj_boundary_margin.py --check). On
    # Fashion-MNIST the white-box view (BPDA-PGD and EOT-BPDA-PGD at the same budgets, the quick profile's effort)
    # runs beside it, and `legacy-randomness` runs the attacks that account for the randomness on 50 images
    # (cnr.cells.groups).
    **{name: Profile(
        name=name, notebooks=("06",), data=data, samples=Samples(eval=n, costly=n, blackbox=n, draws=draws),
        grid=Grid(ns=(3,), sweep_ns=(3,), fixed_qf=None, jpeg_fixed_qf=40, nearest_bank=bank3, linf_budgets=(),
                  l2_budgets=(0.01, 0.03, 0.05, 0.08) if budgets is None else budgets, groups=groups,
                  workers=workers),
        attacks={"hsj": {"max_queries": queries, "steps": steps, "initial_gradient_eval_steps": evals,
                         "batch_size": batch, **hsj_extra},
                 "square": {"n_queries": queries, "batch_size": max(batch, n)},
                 "pgd": {"steps": QUICK_ATTACKS["pgd"]["steps"]},
                 "legacy-eot-bpda-pgd": QUICK_ATTACKS["eot-bpda-pgd"],
                 **{f"legacy-hsj-vote{k}-x{k}": {"max_queries": k * queries} for k in (3, 9)},
                 **{f"legacy-square-eot{k}-x{k}": {"n_queries": k * queries} for k in (3, 9)}})
       for name, data, n, draws, bank3, budgets, queries, steps, evals, batch, hsj_extra, workers, groups in (
           ("legacy", Data(), 200, 5, (20, 40, 60), None, 5000, 20, 100, 250, {}, 2, LEGACY_GROUPS + LEGACY_WHITE_BOX),
           ("legacy-imagenet", Data(dataset="imagenet-cpu", classifier="efficientnet-lite0"), 20, 3, (), None,
            5000, 20, 100, 2, {"boundary_margin": 1e-4}, 2, LEGACY_GROUPS),
           ("legacy-randomness", Data(), 50, 5, (), None, 5000, 20, 100, 250, {}, 2,
            LEGACY_GROUPS + LEGACY_WHITE_BOX + LEGACY_RANDOMNESS),
           ("legacy-smoke", Data(), 8, 2, (20, 40, 60), (0.1, 0.3), 100, 4, 10, 250, {}, 1,
            LEGACY_GROUPS + LEGACY_WHITE_BOX + ("legacy-hsj-vote3", "legacy-square-eot3")),
       )},
}


def get_profile(name: str, **settings: Any) -> Profile:
    """A registered profile by name with settings replaced by path (or older name); the run boundary's helper."""
    if not isinstance(name, str) or name not in PROFILES:
        raise unknown_name("profile", name, PROFILES)
    if not all(isinstance(k, str) for k in settings):
        raise InputError(f"setting names are text, got {sorted(map(repr, settings))}")
    return with_settings(PROFILES[name], settings)

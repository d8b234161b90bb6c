"""The four run profiles: one set of parameters that the notebooks, the CLI and the tests all read."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cnr.errors import unknown_name

QF_SET: tuple[int, ...] = (5, 10, 20, 30, 40, 60)  # the legacy code's AR-GAN quality factors


@dataclass(frozen=True)
class Profile:
    """Every knob a profile sets; `get_profile(name, **overrides)` builds one."""

    name: str
    dataset: str = "fmnist"
    classifier: str = "fmnist-cnn"
    device: str = "cpu"
    seed: int = 0
    results_dir: str = "results/quick"
    # classifier training
    clf_epochs: int = 10
    clf_batch: int = 128
    clf_train_limit: int | None = None  # None: the whole training split
    clf_eval_limit: int | None = None
    # AR-GAN bank
    argan_preset: str = "quick"
    argan_qfs: tuple[int, ...] = QF_SET
    argan_pretrain_steps: int = 1500
    argan_gan_steps: int = 500
    argan_batch: int = 32
    argan_patch: int = 28
    restoration_n: int = 1000  # Fashion-MNIST test images in the restoration table
    # evaluation (issue 4 refines)
    n_eval: int = 500  # BPDA and oblivious attacks
    n_costly: int = 200  # EOT, AutoAttack, C&W, DeepFool, black-box
    draws: int = 5  # fresh draws of a random defense on the final adversarials
    eot_samples: int = 8
    pgd_steps: int = 40
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for metadata and results rows."""
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", results_dir="results/smoke", clf_epochs=1, clf_train_limit=2000, clf_eval_limit=500,
        argan_preset="quick", argan_pretrain_steps=20, argan_gan_steps=10, argan_batch=8, restoration_n=64,
        n_eval=16, n_costly=8, draws=2, eot_samples=2, pgd_steps=5,
    ),
    "quick": Profile(name="quick"),
    "full": Profile(
        name="full", results_dir="results/full", device="auto", argan_preset="paper", argan_pretrain_steps=20000,
        argan_gan_steps=10000, restoration_n=10000, n_eval=10000, n_costly=1000, draws=10, eot_samples=32,
        pgd_steps=100,
    ),
    "paper": Profile(
        name="paper", dataset="imagenet", classifier="resnet50", device="auto", results_dir="results/paper",
        argan_preset="paper", argan_patch=128, argan_pretrain_steps=50000, argan_gan_steps=50000, argan_batch=16,
        restoration_n=1000, n_eval=1000, n_costly=1000, draws=10, eot_samples=32, pgd_steps=100,
    ),
}


def get_profile(name: str | Profile = "quick", **overrides: Any) -> Profile:
    """Look up a profile by name, optionally overriding fields (unknown fields are an error)."""
    if isinstance(name, Profile):
        base = name
    elif name in PROFILES:
        base = PROFILES[name]
    else:
        raise unknown_name("profile", name, PROFILES)
    bad = set(overrides) - set(Profile.__dataclass_fields__)
    if bad:
        raise unknown_name("profile field", sorted(bad)[0], Profile.__dataclass_fields__)
    return replace(base, **overrides)

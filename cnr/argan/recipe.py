"""Whether two AR-GAN trainings are the same one: the recipe a weights file or checkpoint records, and its comparison.

The recipe holds every setting that changes the weights: the architecture, the QF (or static set), the data, the
steps of each phase, batch, patch, seed, learning rate, the losses and their weights, and the warm start (by
checksum). How a run is carried out (checkpoints, validation, progress bar, device, processes) is not in it.
`train_argan` records the recipe and resumes only a checkpoint with the same one; the bank trainer skips a finished
file only when its recorded recipe is the one it would train.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnr.argan.generator import preset_architecture
from cnr.argan.sources import NATURAL_SOURCE, default_channels
from cnr.config import QF_SET
from cnr.config.training import TrainSettings
from cnr.errors import InputError
from cnr.parsing import check_qf

# recorded only by some trainings (natural photos, warm starts): present on one side only means another training
OPTIONAL_KEYS = ("source", "init_from")


def qf_label(qfs: int | str | Sequence[int]) -> tuple[int | str, tuple[int, ...]]:
    """Normalize the QF argument: an int, or 'static' / a list (one QF per image drawn from the set)."""
    if isinstance(qfs, str):
        if qfs == "static":
            return "static", QF_SET
        if qfs.isdigit():
            qfs = int(qfs)
        else:
            raise InputError(f"qf must be an integer 1..100 or 'static', got {qfs!r}")
    if isinstance(qfs, int):
        qf = check_qf(qfs, "JPEG quality factor")
        return qf, (qf,)
    if not isinstance(qfs, (list, tuple)) or not qfs:
        raise InputError(f"qf must be an integer 1..100, 'static' or a non-empty list of them, got {qfs!r}")
    qset = tuple(sorted(check_qf(q, "static QF set") for q in qfs))
    if len(set(qset)) != len(qset):  # a repeated QF would be drawn twice as often, silently
        raise InputError(f"static QF set names a QF more than once: {list(qfs)}; give each once")
    return "static", qset


def perceptual_name(spec: Any, dataset: str) -> str | None:
    """The feature network a perceptual spec names: 'auto' is the kit's classifier on Fashion-MNIST, none on photos."""
    if spec == "auto":
        return "fmnist-cnn" if dataset == "fmnist" else None
    if spec is None:
        return None
    return spec if isinstance(spec, str) else type(spec).__name__


def warm_start_record(path: str | Path) -> dict[str, Any]:
    """What identifies a finished generator that a training starts from: file, QF, steps, data, tensor checksum."""
    from cnr.weights import load_weights, tensor_checksum

    path = Path(path)
    tensors, meta = load_weights(path, dtype=None)
    return {"file": path.name, "qf": meta.get("qf"), "steps": meta.get("steps"), "dataset": meta.get("dataset"),
            "sha256": tensor_checksum(tensors)}


def training_recipe(qfs: int | str | Sequence[int], settings: TrainSettings) -> dict[str, Any]:
    """The settings that make the weights, as train_argan records them in every checkpoint and weights file."""
    label, qf_set = qf_label(qfs)
    s = settings
    in_channels = s.in_channels or default_channels(s.dataset)
    # the perceptual term exists only in a GAN phase, with a weight, and with a network to compare features on
    net = perceptual_name(s.perceptual, s.dataset) if s.gan_steps and s.perceptual_weight else None
    recipe: dict[str, Any] = dict(
        kind="argan-generator", architecture={**preset_architecture(s.preset, in_channels), "preset": s.preset},
        qf=label, qf_set=list(qf_set), dataset=s.dataset, pretrain_steps=s.pretrain_steps, gan_steps=s.gan_steps,
        steps=s.steps, batch=s.batch, patch=s.patch, seed=s.seed, lr=s.lr,
        losses=dict(pixel=s.pixel, ssim=s.ssim_weight, perceptual=s.perceptual_weight if net else 0.0,
                    perceptual_net=net, adversarial=s.adv_weight))
    if s.dataset == "natural":
        recipe["source"] = NATURAL_SOURCE
    if s.init_from is not None:
        recipe["init_from"] = warm_start_record(s.init_from)
    return recipe


def same_training(recorded: Mapping[str, Any], recipe: Mapping[str, Any]) -> bool:
    """Whether metadata read from a weights file or checkpoint records this recipe (other recorded fields ignored)."""
    return all(_same(recorded.get(k), recipe.get(k)) for k in {*recipe, *OPTIONAL_KEYS})


def _same(found: Any, want: Any) -> bool:
    """Equality after the JSON round trip (tuples come back as lists)."""
    if isinstance(want, (tuple, list)):
        return isinstance(found, list) and len(found) == len(want) and all(_same(f, w) for f, w in zip(found, want))
    if isinstance(want, dict):
        return isinstance(found, dict) and set(found) == set(want) and all(_same(found[k], want[k]) for k in want)
    return found == want

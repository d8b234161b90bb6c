"""Training and validation images for the AR-GAN, drawn as a pure function of (seed, step).

Keying every batch on the step (not on an iterator's state) is what makes resumed runs replay the same
batches, and lets DDP ranks take disjoint slices of one global batch without a sampler.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from cnr.errors import InputError, unknown_name

DATASETS = ("fmnist", "natural")
FMNIST_VAL_HOLDOUT = 1000  # the last 1,000 Fashion-MNIST training images: validation, never trained on
# Natural patches come from the train split of the wallpaper-photo corpus (cnr.data.photo_corpus, split by photo:
# 25 train photos), so its test split and Foolbox's images stay out of training. Recorded in metadata.
NATURAL_SOURCE = "photo-corpus-v1:train (validation: photo-corpus-v1:validation), max_side 512"


def default_channels(dataset: str) -> int:
    """Fashion-MNIST is gray; natural photos are RGB unless asked otherwise."""
    if dataset not in DATASETS:
        raise unknown_name("AR-GAN dataset", dataset, DATASETS)
    return 1 if dataset == "fmnist" else 3


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class ImageSource:
    """Clean training patches and a fixed held-out validation set, for one dataset."""

    def __init__(self, dataset: str, in_channels: int, patch: int, seed: int = 0):
        if in_channels != default_channels(dataset) and not (dataset == "natural" and in_channels == 1):
            raise InputError(f"dataset {dataset!r} has {default_channels(dataset)} channel(s); "
                             f"got in_channels={in_channels}")
        self.dataset, self.in_channels, self.patch, self.seed = dataset, in_channels, patch, seed
        if dataset == "fmnist":
            if not 1 <= patch <= 28:
                raise InputError(f"Fashion-MNIST patches must be 1..28 px, got {patch}")
            from cnr.data import load_fmnist

            x, _ = load_fmnist("train")
            self._train, self._val = x[:-FMNIST_VAL_HOLDOUT], x[-FMNIST_VAL_HOLDOUT:]

    def batch(self, step: int, n_global: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Generator]:
        """This rank's slice of the global batch of `step` (CPU), plus the step's generator for further draws."""
        if n_global % world:
            raise InputError(f"batch {n_global} does not split over {world} processes")
        g = _step_generator(self.seed, step)
        n = n_global // world
        sl = slice(rank * n, (rank + 1) * n)
        if self.dataset == "natural":  # random crops + flips of the corpus's training photos, keyed on the step
            from cnr.data.photo_corpus import corpus_patches

            seed = int(torch.randint(2**62, (1,), generator=g))
            return _gray(corpus_patches("train", n_global, self.patch, seed=seed), self.in_channels)[sl], g
        idx = torch.randint(len(self._train), (n_global,), generator=g)
        flip = torch.rand(n_global, generator=g) < 0.5
        p = self.patch
        dy, dx = torch.randint(0, 28 - p + 1, (2,), generator=g).tolist()  # one crop offset per batch
        x = self._train[idx[sl], :, dy : dy + p, dx : dx + p]
        return torch.where(flip[sl].view(-1, 1, 1, 1), x.flip(3), x), g

    def validation(self, n: int) -> torch.Tensor:
        """A fixed held-out set (never trained on): the last Fashion-MNIST training images, or held-out photos."""
        if self.dataset == "fmnist":
            return self._val[:n]
        from cnr.data.photo_corpus import corpus_patches

        return _gray(corpus_patches("validation", n, self.patch, seed=10_007), self.in_channels)


def _gray(x: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB patches, or their ITU-R 601 luma for a gray natural restorer."""
    if in_channels == 3:
        return x
    return (torch.tensor((0.299, 0.587, 0.114)).view(1, 3, 1, 1) * x).sum(1, keepdim=True).clamp_(0, 1)


def draw_qfs(qfs: Sequence[int], n_global: int, g: torch.Generator, rank: int = 0, world: int = 1) -> torch.Tensor:
    """Per-image QFs drawn uniformly from a set (the static generator's training), this rank's slice."""
    choice = torch.randint(len(qfs), (n_global,), generator=g)
    n = n_global // world
    return torch.tensor(list(qfs), dtype=torch.long)[choice[rank * n : (rank + 1) * n]]

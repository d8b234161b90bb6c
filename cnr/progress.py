"""Progress of long model computations, counted in the forward passes they make: a tqdm bar fed by a forward hook,
so that an attack, which runs the model inside its own loop, shows progress without knowing about it."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from torch import nn
from tqdm.auto import tqdm


@contextlib.contextmanager
def forward_passes(model: nn.Module, total: int | None, desc: str, leave: bool = True,
                   per_image: bool = False) -> Iterator[tqdm]:
    """A bar of `total` steps, one per call of `model` inside the block (or, `per_image`, one per image through it);
    the hook is removed on leaving the block; `leave=False` clears the bar when done."""
    bar = tqdm(total=total, desc=desc, unit="img" if per_image else "pass", leave=leave, mininterval=1.0)

    def count(module: nn.Module, inputs: tuple, output: object) -> None:  # returning a value would replace output
        bar.update(int(inputs[0].shape[0]) if per_image else 1)

    handle = model.register_forward_hook(count)
    try:
        yield bar
    finally:
        handle.remove()
        bar.close()


def pgd_passes(n_images: int, steps: int, eot: int, batch_size: int) -> int:
    """The forward passes of `run_attack("pgd", ...)`: its one probe, then per batch `steps + 1` rounds of `eot`
    passes (cnr.attacks.pgd.run_pgd scores the last iterate on passes of its own)."""
    return 1 + math.ceil(n_images / batch_size) * (steps + 1) * eot

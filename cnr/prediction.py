"""One batched prediction for the whole kit: classifiers, defenses (a pinned draw), restorers, any image function."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """fn applied to x in chunks of `batch_size` (no gradients), concatenated."""
    if len(x) == 0:
        return x
    return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def device_of(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer (None for a model without any)."""
    t = next(model.parameters(), None)
    t = next(model.buffers(), None) if t is None else t
    return None if t is None else t.device


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500, draw: int | None = None) -> torch.Tensor:
    """Predicted labels (on CPU) of [0,1] images, in chunks; `draw` pins the draw of a random (defended) model."""
    from cnr.checks import check_images
    from cnr.errors import InputError
    from cnr.parsing import check_int

    if not isinstance(model, nn.Module):
        raise InputError(f"predict takes a torch.nn.Module, got {type(model).__name__}")
    check_images(x, name="images to classify")
    batch_size = check_int(batch_size, "batch_size", 1)
    if draw is not None and not hasattr(model, "is_random"):
        raise InputError("draw= pins a draw of a defended model (cnr.Defended); this model takes no draw")
    dev = device_of(model) or x.device

    def labels(xb: torch.Tensor) -> torch.Tensor:
        out = model(xb.to(dev)) if draw is None else model(xb.to(dev), draw=draw)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            raise InputError(f"the model must return (N, classes) logits, got "
                             f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
        if not torch.isfinite(out).all():
            raise InputError("the model returned NaN or Inf logits: its predictions mean nothing")
        return out.argmax(1).cpu()

    return batched(labels, x, batch_size)

"""The grid's arithmetic: bf16 autocast around the classifier and each restorer, float32 between them.

On a CPU with AVX512-BF16 the 224 px models run 1.6-2.2x faster in bf16 (benchmarks/bench_layout_precision.py), but
their logits move by up to ~0.7, so an attack's path changes: a profile that uses it says so (`compute.precision`)
and its tables are checked against float32 ones within chance (`cnr compare`). Everything between the wrapped
modules (JPEG, the defense's checks, the attacks' own arithmetic, the scoring) stays float32.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

DTYPES = {"bf16": torch.bfloat16, "bf16-restorers": torch.bfloat16}


class Autocast(nn.Module):
    """A module whose forward runs under torch.autocast in a low precision and hands float32 back."""

    def __init__(self, inner: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.inner, self.dtype = inner, dtype
        self.training = inner.training  # an eval-mode model stays one (Foolbox warns about a training-mode model)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype):
            out = self.inner(x, *args, **kwargs)
        return out.float()

    def __getattr__(self, name: str) -> Any:
        """The wrapped module's attributes (a generator's `in_channels`, a classifier's `cnr_input`) read through."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}"


def with_compute(classifier: nn.Module, bank: nn.Module | None, precision: str = "fp32",
                 channels_last: bool = False) -> tuple[nn.Module, nn.Module | None]:
    """The classifier and the bank as a profile's `compute` part asks: channels_last classifier, bf16 modules
    (`bf16-restorers`: the bank's generators only). The bank's generators are wrapped in place."""
    if channels_last:
        classifier = classifier.to(memory_format=torch.channels_last)
    if precision == "fp32":
        return classifier, bank
    dtype = DTYPES[precision]
    if bank is not None:
        gens = getattr(bank, "generators", {})
        for key in list(gens.keys()):
            gens[key] = Autocast(gens[key], dtype)
        if getattr(bank, "static_generator", None) is not None:
            bank.static_generator = Autocast(bank.static_generator, dtype)
    return (classifier if precision == "bf16-restorers" else Autocast(classifier, dtype)), bank

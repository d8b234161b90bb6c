"""The legacy code's defense layout as grid defenses: JPEG alone at one fixed QF, and (Compress and Restore)^N whose
drawn QF is served by the nearest of only a few restorers (the authors' black-box study: QF 20 / 40 / 60).

The kit's own bank has a restorer for every QF of `bank.qfs` (5, 10, 20, 30, 40, 60), so a QF drawn from [20, 60]
mostly meets a restorer trained near it; with only 20 / 40 / 60, a drawn 29 is restored by the QF-20 generator and
a drawn 31 by the QF-40 one (a tie goes to the higher QF, as in `RestorerBank.nearest`). Both layouts draw the QF
the same way (`CompressRestore.draw_qfs`), so a row of each differs only in which generators restore.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from cnr.config import Grid
from cnr.defenses.compress_restore import CompressRestore
from cnr.defenses.registry import DefenseSpec
from cnr.errors import InputError

ROLE = "legacy"  # the legacy cell groups (cnr.cells.groups) run these, beside `none` and the main dynamic defense


def nearest_bank_name(n: int, qfs: tuple[int, ...]) -> str:
    """'dynamic-N3-bank20-40-60': the defense's name says which restorers it has."""
    return f"dynamic-N{n}-bank{'-'.join(str(q) for q in sorted(qfs))}"


def sub_bank(bank: Any, qfs: tuple[int, ...]) -> Any:
    """A RestorerBank of only `qfs`'s generators (the same modules, not copies); each must be in `bank`."""
    from cnr.argan.bank import RestorerBank

    missing = sorted(set(qfs) - set(bank.qfs))
    if missing:
        raise InputError(f"the nearest-restorer layout needs generators for QF {missing}, which the bank (QFs "
                         f"{list(bank.qfs)}) lacks; train them or list only QFs of bank.qfs in grid.nearest_bank")
    return RestorerBank({q: bank.generator_for(q) for q in qfs}, bank.static_generator).to(
        next(bank.parameters()).device).eval()


def build_legacy(spec: DefenseSpec, bank: nn.Module | None, grad: str, seed: int) -> CompressRestore:
    """JPEG at its fixed QF, or dynamic (Compress and Restore)^N restoring with the spec's few generators."""
    qfs = dict(spec.options).get("bank_qfs")
    if spec.mode == "jpeg":
        return CompressRestore(None, spec.qf_range, spec.n_iter, mode="jpeg", grad=grad, seed=seed)
    if bank is None or not qfs:
        raise InputError(f"defense {spec.name!r} restores with a subset of the bank's generators: it needs the bank "
                         f"and the spec's bank_qfs option")
    return CompressRestore(sub_bank(bank, tuple(qfs)), spec.qf_range, spec.n_iter, mode="dynamic", grad=grad,
                           seed=seed)


def legacy_family(g: Grid) -> list[DefenseSpec]:
    """JPEG at `grid.jpeg_fixed_qf`, and dynamic-N (each N of `sweep_ns`) with the `grid.nearest_bank` restorers."""
    out = []
    if g.jpeg_fixed_qf is not None:
        q = g.jpeg_fixed_qf
        out.append(DefenseSpec(f"jpeg-qf{q}", "legacy", "jpeg", 1, (q, q), frozenset({ROLE})))
    if g.nearest_bank:
        qfs = tuple(sorted(g.nearest_bank))
        out += [DefenseSpec(nearest_bank_name(n, qfs), "legacy", "dynamic", n, tuple(g.qf_range), frozenset({ROLE}),
                            options=(("bank_qfs", qfs),)) for n in g.sweep_ns]
    return out

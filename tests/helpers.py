"""Helpers that several test files share: the in-process command line, results rows made up for a test (per-image
outcomes, paired differences), the smoke grid's expected attacks and measured accuracies, and the photo corpus skip."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from cnr.argan import RestorerBank, build_generator
from cnr.cells.specs import AttackSpec
from cnr.cli import main
from cnr.defenses.registry import DefenseSpec
from cnr.eval.outcomes import save_outcomes


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """Run `cnr ...` in-process; argparse's own usage errors exit 2 as well."""
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out + out.err


def mentions(text: str, needle: str | tuple[str, ...]) -> bool:
    """Whether the kit's message holds the needle (or every one of several: a setting's path and its value)."""
    return all(n in text for n in ((needle,) if isinstance(needle, str) else needle))


def assert_cli_refuses(capsys, tmp_path, argv, needle):
    """The command exits 2 with a message that holds the needle, no traceback, and nothing written."""
    code, text = run_cli(capsys, *argv)
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text
    assert not (tmp_path / "results").exists(), "something was written from a refused command"


def outcome_row(defense: str, mode: str, attack: str, kind: str, budget: float, acc: float) -> dict:
    """A results row of 8 images with the key and defense columns the ensemble and the paired table read."""
    return dict(dataset="d", classifier="c", defense=defense, attack=attack, norm="linf", budget=budget, params="{}",
                seed=0, mode=mode, n_iter=3, random_qf=True, kind=kind, accuracy=acc, worst_accuracy=acc, n=8,
                inconclusive=False)


def outcome_table(tmp_path, cells: dict[tuple[str, str, str, float], list[list[int]]]) -> tuple[pd.DataFrame, str]:
    """A results table whose rows carry outcomes: cells[(defense, mode, attack, budget)] = correct (draws x n)."""
    csv = str(tmp_path / "robustness.csv")
    rows = []
    for (defense, mode, attack, budget), correct in cells.items():
        c = torch.tensor(correct, dtype=torch.bool)
        kind = "clean" if attack == "clean" else "adaptive"
        r = outcome_row(defense, mode, attack, kind, budget, c.float().mean().item())
        r["outcomes"] = save_outcomes(csv, r, c, ~c.all(0), torch.full((c.shape[1],), budget))
        rows.append(r)
    return pd.DataFrame(rows), csv


GRID_ATTACKS = {"clean", "bpda-pgd", "eot-bpda-pgd", "oblivious-pgd", "generalized-bpda-pgd", "eot-diffjpeg-pgd",
                "deepfool", "cw", "square", "nattack", "hsj", "autoattack-rand"}


# Accuracies (mean over draws, worst case) of smoke cells, measured on this kit's first 16 (8: costly) test images.
# Tolerance: one image either way (1/16), for a gradient sign that flips on another CPU kernel or thread count.
SMOKE_PINNED = {
    ("none", "clean", "linf", 0.0): (1.0, 1.0),
    ("static-N3", "clean", "linf", 0.0): (0.96875, 0.9375),
    ("dynamic-N5", "clean", "linf", 0.0): (0.90625, 0.875),
    ("none", "bpda-pgd", "linf", 0.1): (0.0, 0.0),
    ("static-N3", "bpda-pgd", "linf", 0.1): (0.53125, 0.4375),
    ("dynamic-N3", "bpda-pgd", "linf", 0.1): (0.34375, 0.3125),
    ("dynamic-N3", "bpda-pgd", "linf", 0.3): (0.0, 0.0),
    ("static-N3", "oblivious-pgd", "linf", 0.1): (0.78125, 0.75),
    ("none", "square", "linf", 0.1): (0.75, 0.75),
    ("dynamic-N3", "autoattack-rand", "linf", 0.1): (0.5, 0.5),
}


# The smoke grid's override: the profile's own value, so the numbers are smoke's, but the run is "smoke+..." and
# its worker processes must receive it (they get the run as JSON) and write it into every row.
SMOKE_GRID_OVERRIDE = {"grid.workers": 2}


def paired_rows(diffs: list[tuple], bank: str = "paper") -> pd.DataFrame:
    """Rows (attack, diff, lo, hi[, McNemar p]); p defaults to 0.001 when the interval excludes 0, else 0.5."""
    rows = [dict(bank=bank, defense_a="static-N3", defense_b="dynamic-N3", attack=a, norm="linf", budget=0.1 + i,
                 n=200, diff=d, diff_lo=lo, diff_hi=hi, only_a=5, only_b=2, inconclusive=False,
                 mcnemar_p=rest[0] if rest else (0.001 if lo > 0 or hi < 0 else 0.5))
            for i, (a, d, lo, hi, *rest) in enumerate(diffs)]
    return pd.DataFrame(rows)


def corpus_or_skip():
    """Skip the test where the photo corpus (natural patches' source) is not installed."""
    from cnr.data.photo_corpus import INVENTORY

    if not all(Path(p.path).is_file() for p in INVENTORY):
        pytest.skip("the photo corpus is not installed (make data): natural patches come from it")


UNDEFENDED = DefenseSpec("none", "none")


def pgd_spec(budget: float, steps: int = 2, norm: str = "linf", **kw) -> AttackSpec:
    """A BPDA-PGD cell spec of a few steps, for tests that run one cell on the smoke evaluator."""
    return AttackSpec("bpda-pgd", "pgd", norm, budget, params=(("steps", steps),), **kw)


def toy_bank() -> RestorerBank:
    """An untrained gray bank (QF 10/20/40/60 and static), seeded: fast, for the defense's mechanics."""
    torch.manual_seed(0)
    gens = {qf: build_generator("quick", in_channels=1).eval() for qf in (10, 20, 40, 60)}
    return RestorerBank(gens, static=build_generator("quick", in_channels=1).eval()).eval()


def shipped_fmnist_models() -> tuple[RestorerBank, torch.nn.Module, torch.nn.Module]:
    """The shipped quick Fashion-MNIST bank, classifier, and the defense N = 1 on QF 20-60 built from them."""
    from cnr import CompressRestore, load_classifier
    from cnr.paths import WEIGHTS_DIR

    bank = RestorerBank.load(WEIGHTS_DIR / "argan-fmnist-quick")
    return bank, load_classifier("fmnist-cnn"), CompressRestore(bank, (20, 60), 1)

"""cnr: the (Compress and Restore)^N reproducibility kit.

The public API, imported lazily so that `import cnr` stays cheap (torch loads on first use):
    run = cnr.resolve_run("quick")                     # profile + overrides + seed + device, resolved once
    bank = cnr.RestorerBank.load(run.bank_dir("fmnist"))
    model = cnr.Defended(cnr.CompressRestore(bank, (20, 60), 3), cnr.load_classifier("fmnist-cnn"))
    result = cnr.run_attack("pgd", model, x, y, 0.1, norm="linf", eot=4)
    print(cnr.evaluate(model, result.x_adv, y, draws=5))  # mean, worst case, majority vote over fresh draws
"""
from __future__ import annotations

import importlib
from typing import Any

from cnr.version import __version__

_EXPORTS = {
    "Run": "cnr.run", "resolve_run": "cnr.run",
    "CompressRestore": "cnr.defenses", "Defended": "cnr.defenses", "DefenseSpec": "cnr.defenses",
    "register_defense": "cnr.defenses",
    "RestorerBank": "cnr.argan", "train_argan": "cnr.argan",
    "load_classifier": "cnr.classifiers", "predict": "cnr.prediction",
    "evaluate": "cnr.eval.scoring", "Evaluation": "cnr.eval.scoring",
    "run_attack": "cnr.attacks", "register_attack": "cnr.attacks", "AttackDef": "cnr.attacks",
    "CellGroup": "cnr.cells.groups", "register_group": "cnr.cells.groups", "run_grid": "cnr.grid",
    "load_dataset": "cnr.data", "jpeg_roundtrip": "cnr.jpeg",
    "CnrError": "cnr.errors", "InputError": "cnr.errors", "WeightsError": "cnr.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cnr' has no attribute {name!r}")

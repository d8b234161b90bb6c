"""What one cell of the grid is: a defense spec and an attack spec, and the key its row is stored under."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cnr.defenses.registry import DefenseSpec

KINDS = ("clean", "white-box", "adaptive", "black-box", "minimal")
# the model the attacker differentiates: the defense with a backward mode of CompressRestore (bpda, surrogate,
# identity, expected), the bare classifier (oblivious), or the static-generator variant of the defense whose
# adversarials are then transferred to the defense under test (transfer-static)
SAMPLES = ("eval", "costly", "blackbox")  # which of the profile's sample sizes a cell runs on (Profile.sample_sizes)
VIEWS = ("bpda", "surrogate", "identity", "expected", "oblivious", "transfer-static")


@dataclass(frozen=True)
class AttackSpec:
    """A named attack of the grid: the cnr.attacks name, what gradient it sees, its norm, budget and params."""

    label: str  # the cell group, e.g. bpda-pgd, eot-bpda-pgd, oblivious-pgd, square
    attack: str  # the cnr.attacks registry name ("clean": no attack)
    norm: str
    budget: float
    view: str = "bpda"
    sample: str = "eval"  # one of SAMPLES: which sample size of the profile
    params: tuple[tuple[str, Any], ...] = ()
    kind: str = "adaptive"
    ablation: bool = False  # drawn in the ablation figure and table


@dataclass(frozen=True)
class Cell:
    defense: DefenseSpec
    attack: AttackSpec

    def key(self, dataset: str, classifier: str, seed: int) -> dict[str, Any]:
        """The table key of this cell (resume and shard merge use it)."""
        return dict(dataset=dataset, classifier=classifier, defense=self.defense.name, attack=self.attack.label,
                    norm=self.attack.norm, budget=float(self.attack.budget),
                    params=json.dumps(dict(self.attack.params), sort_keys=True), seed=seed)

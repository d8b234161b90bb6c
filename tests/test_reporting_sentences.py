"""cnr.reporting.sentences: the sentences the notebooks print about a results table."""
from __future__ import annotations

import pandas as pd


def test_describe_functions_on_an_empty_table():
    from cnr.reporting import sentences as S

    empty = pd.DataFrame()
    for text in (S.describe_grid(empty, 0.1, 0.2), S.describe_ablation(empty, 0.1, 0.2, "bpda-pgd"),
                 S.describe_attacks(empty, ["minimal"])):
        assert "no results" in text.lower() or "empty" in text.lower()
    assert S.strongest_attacks(empty, "linf", 0.1).empty

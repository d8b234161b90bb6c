"""Moved to cnr.analysis.paired; this path stays for one release (a re-export, not part of the layers)."""
from cnr.analysis.paired import (  # noqa: F401
    AIMED_AT_DYNAMIC,
    ENSEMBLE,
    TABLE,
    default_pairs,
    paired_difference,
    paired_table,
)

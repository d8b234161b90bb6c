"""Moved to cnr.analysis.compare; this path stays for one release (a re-export, not part of the layers)."""
from cnr.analysis.compare import (  # noqa: F401
    CORRECTION,
    METRICS,
    compare_tables,
    table_keys,
    verdict,
)

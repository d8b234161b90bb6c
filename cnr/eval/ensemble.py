"""Moved to cnr.analysis.ensemble; this path stays for one release (a re-export, not part of the layers)."""
from cnr.analysis.ensemble import (  # noqa: F401
    INCONCLUSIVE_GAP,
    WHITE_BOX_KINDS,
    ensemble,
    mark_inconclusive,
)

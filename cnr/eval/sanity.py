"""Moved to cnr.analysis.sanity; this path stays for one release (a re-export, not part of the layers)."""
from cnr.analysis.sanity import (  # noqa: F401
    WHITE_BOX_KINDS,
    attacks_conclusive,
    direct_checks,
    monotone_in_budget,
    run_sanity,
    sanity_report,
    white_beats_black,
    worst_below_mean,
)

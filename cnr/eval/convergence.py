"""Moved to cnr.studies.convergence; this path stays for one release (a re-export, not part of the layers)."""
from cnr.studies.convergence import (  # noqa: F401
    EOT,
    RESTARTS,
    STEPS,
    convergence,
    flat_from,
)

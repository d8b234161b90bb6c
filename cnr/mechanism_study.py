"""Moved to cnr.studies.mechanism_run; this path stays for one release (a re-export, not part of the layers)."""
from cnr.studies.mechanism_run import (  # noqa: F401
    SETUP_FILE,
    mechanism_setup,
    run_mechanism,
)

"""Moved to cnr.studies.mechanism; this path stays for one release (a re-export, not part of the layers)."""
from cnr.studies.mechanism import *  # noqa: F401,F403
from cnr.studies.mechanism import __all__  # noqa: F401
from cnr.studies.mechanism_run import mechanism_setup, run_mechanism  # noqa: F401

"""Moved to cnr.prediction (below the attacks and classifiers that use it); this path stays for one release."""
from cnr.prediction import batched, device_of, predict  # noqa: F401

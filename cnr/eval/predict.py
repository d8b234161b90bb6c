"""Moved to cnr.predict (below the attacks and classifiers that use it); this path stays for one release."""
from cnr.predict import batched, device_of, predict  # noqa: F401

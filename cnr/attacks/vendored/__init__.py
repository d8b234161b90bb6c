"""Code carried over from pyautoattack 0.2.0 with per-image radii; each module names its upstream."""

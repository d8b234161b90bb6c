"""cnr: the (Compress and Restore)^N reproducibility kit."""
import os as _os

# foolbox imports GitPython, which fails without a `git` executable unless told to be quiet.
_os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# OpenMP workers that spin while waiting made cells tens of times slower whenever another process shared the
# 2 cores (measured); passive waiting costs nothing alone. Takes effect when cnr is imported before torch.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

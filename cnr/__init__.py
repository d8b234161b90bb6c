"""cnr: the (Compress and Restore)^N reproducibility kit."""
import os as _os

# foolbox imports GitPython, which fails without a `git` executable unless told to be quiet.
_os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

__version__ = "0.1.0"

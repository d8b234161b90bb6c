"""The `cnr` Jupyter kernel: the venv's Python with the environment the kit needs set before torch loads.

OpenMP threads that spin while they wait made notebook cells far slower whenever another process shared the cores
(benchmarks/bench_tour_under_load.py; see benchmarks/NOTES.md). Setting the variable inside a notebook comes too
late once torch is imported, so the kernel spec carries it. `make setup` installs it; `python -m cnr.kernel` does
the same by hand.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

NAME = "cnr"
ENV = {"OMP_WAIT_POLICY": "PASSIVE", "GIT_PYTHON_REFRESH": "quiet"}


def kernel_spec() -> dict:
    """The kernel.json of the `cnr` kernel: this interpreter, the kit's environment."""
    return {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (cnr)", "language": "python", "env": dict(ENV),
            "metadata": {"debugger": True}}


def install(prefix: str | None = None) -> Path:
    """Install the kernel spec into this environment's share/jupyter/kernels (or `prefix`); returns its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1))
        return Path(KernelSpecManager().install_kernel_spec(tmp, NAME, prefix=prefix or sys.prefix))



def ensure_installed() -> str:
    """The kernel name to run notebooks with: `cnr`, installed first if this environment lacks it."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    spec_file = Path(specs[NAME]) / "kernel.json" if NAME in specs else None
    if spec_file is None or json.loads(spec_file.read_text()).get("argv", [""])[0] != sys.executable:
        install()
    return NAME


if __name__ == "__main__":
    print(f"installed the {NAME} kernel in {install()}")

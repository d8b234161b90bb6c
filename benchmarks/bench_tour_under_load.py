"""The tour notebook under plain papermill with the kit's `cnr` kernel, alone and beside a busy 2-thread process.

Prints the wall time of each run and their ratio (target: within 3x of the idle time). The busy process multiplies
matrices on 2 threads with OpenMP's default (spinning) wait policy, like a second notebook would.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUSY = "import torch\ntorch.set_num_threads(2)\na = torch.randn(1500, 1500)\nwhile True:\n    a @ a\n"


def run_tour(kernel: str, out: Path) -> float:
    import papermill as pm

    t0 = time.perf_counter()
    pm.execute_notebook(str(ROOT / "notebooks" / "00_tour.ipynb"), str(out), kernel_name=kernel, cwd=str(ROOT),
                        parameters={"profile": "quick", "results_root": str(out.parent / "results")},
                        progress_bar=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", default="cnr", help="cnr (passive OpenMP waiting) or python3 (the plain kernel)")
    args = ap.parse_args()
    from cnr.kernel import ensure_installed

    ensure_installed()
    with tempfile.TemporaryDirectory() as tmp:
        idle = run_tour(args.kernel, Path(tmp) / "idle.ipynb")
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        busy = subprocess.Popen([sys.executable, "-c", BUSY], env=env)
        try:
            time.sleep(2)
            loaded = run_tour(args.kernel, Path(tmp) / "loaded.ipynb")
        finally:
            busy.kill()
    print(f"00_tour with kernel {args.kernel}: idle {idle:.1f} s, beside a busy 2-thread process {loaded:.1f} s, "
          f"ratio {loaded / idle:.2f} (target <= 3)")


if __name__ == "__main__":
    main()

"""What does DeepRobust's BPDA (the paper's white-box tool) report, and which of its settings make it conclusive on
the bare model? Its success and output sizes over a grid of (target, iterations, step size) on the undefended
classifier, then the chosen settings against none / JPEG / dynamic-N3 beside the kit's BPDA-PGD at those sizes.

Conclusive here means what it means for the kit's other attacks: on the undefended model it leaves about what
white-box PGD leaves at the same normalized L2 (cnr.studies.paper_bpda puts the two side by side).
"""
from __future__ import annotations

import argparse
import itertools

import pandas as pd

from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run
from cnr.studies.paper_bpda import DEFENSES, paper_bpda

COLUMNS = ["defense", "target", "iterations", "step_size", "n", "deeprobust_success", "deeprobust_l2_median",
           "deeprobust_accuracy", "kit_accuracy", "kit_acc_lo", "kit_acc_hi", "wall_s"]
STEPS = (0.01, 0.03, 0.1, 0.3, 1.0, 10.0)
CHOSEN = [dict(), dict(target="runner-up", iterations=10, step_size=0.1),
          dict(target="runner-up", iterations=50, step_size=0.03)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--out", default=None, help="write every row to this CSV")
    args = ap.parse_args()
    ev = make_evaluator(resolve_run(args.profile), n=args.n)
    rows = []
    for target, iterations, step in itertools.product(("true", "runner-up"), (10, 50), STEPS):
        rows.append(paper_bpda(ev, defenses=("none",), n=args.n,
                               settings=dict(target=target, iterations=iterations, step_size=step)))
        print(rows[-1][COLUMNS].to_string(header=len(rows) == 1), flush=True)
    for settings in CHOSEN:
        rows.append(paper_bpda(ev, defenses=DEFENSES, n=args.n, settings=settings))
        print(rows[-1][COLUMNS].to_string(), flush=True)
    if args.out:
        pd.concat(rows, ignore_index=True).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()

"""How noisy is a random defense's decision near its boundary? The flip rate between two draws by normalized L2
distance to the boundary, on the segments toward HopSkipJump's adversarials (cnr.studies.decision_noise)."""
from __future__ import annotations

import argparse

import pandas as pd

from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run
from cnr.studies.decision_noise import decision_noise_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--defenses", nargs="*", default=["jpeg", "static-N3", "dynamic-N3"])
    ap.add_argument("--pairs", type=int, default=8, help="pairs of draws per point")
    ap.add_argument("--out", default=None, help="write the table to this CSV")
    args = ap.parse_args()
    ev = make_evaluator(resolve_run(args.profile), n=args.n)
    table = decision_noise_study(ev, defenses=args.defenses, n=args.n, pairs=args.pairs)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()

"""Convergence of BPDA-PGD and EOT-BPDA on static-N3 and dynamic-N3 (the quick profile's justification for its step,
EOT and restart settings): writes results/<run>/tables/convergence.{csv,md,tex} and figures/convergence.{png,pdf},
after every (defense, budget) so that an interrupted run keeps what it measured.
"""
from __future__ import annotations

import argparse

import pandas as pd

from cnr.eval.convergence import EOT, RESTARTS, STEPS, convergence, flat_from
from cnr.eval.evaluator import make_evaluator
from cnr.reporting.figures import convergence_figure
from cnr.reporting.style import save_figure
from cnr.reporting.tables import save_table
from cnr.run import resolve_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.1, 0.05])
    ap.add_argument("--defenses", nargs="+", default=["dynamic-N3", "static-N3"])
    ap.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    ap.add_argument("--eot", type=int, nargs="+", default=list(EOT))
    ap.add_argument("--restarts", type=int, nargs="+", default=list(RESTARTS))
    args = ap.parse_args()
    run = resolve_run(args.profile)
    ev = make_evaluator(run)
    parts = []
    for budget in args.budgets:
        for defense in args.defenses:
            parts.append(convergence(ev, defenses=(defense,), budgets=(budget,), n=args.n, steps=args.steps,
                                     eot=args.eot, restarts=args.restarts))
            df = pd.concat(parts, ignore_index=True)
            save_table(df, run.tables_dir, "convergence")
            save_figure(convergence_figure(df), run.figures_dir, "convergence")
    for sweep in ("steps", "eot", "restarts"):
        print(flat_from(df, sweep).to_string(index=False))


if __name__ == "__main__":
    main()

"""Convergence of BPDA-PGD and EOT-BPDA on static-N3 and dynamic-N3 (the quick profile's justification for its step,
EOT and restart settings): writes results/<run>/tables/convergence.{csv,md,tex} and figures/convergence.{png,pdf}.
"""
from __future__ import annotations

import argparse

from cnr.eval.convergence import convergence, flat_from
from cnr.eval.evaluator import make_evaluator
from cnr.reporting.figures import convergence_figure
from cnr.reporting.style import save_figure
from cnr.reporting.tables import save_table
from cnr.run import resolve_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    run = resolve_run(args.profile)
    df = convergence(make_evaluator(run), n=args.n)
    save_table(df, run.tables_dir, "convergence")
    save_figure(convergence_figure(df), run.figures_dir, "convergence")
    for sweep in ("steps", "eot", "restarts"):
        print(flat_from(df, sweep).to_string(index=False))


if __name__ == "__main__":
    main()

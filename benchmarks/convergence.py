"""Convergence of BPDA-PGD and EOT-BPDA on static-N3 and dynamic-N3 (the quick profile's justification for its step,
EOT and restart settings): writes results/<run>/tables/convergence.{csv,md,tex} and figures/convergence.{png,pdf},
after every (defense, budget); a re-run keeps the (defense, budget) parts already measured with the same n and
sweeps (pass --fresh to redo them).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import read_plain_table
from cnr.reporting.figures import convergence_figure
from cnr.reporting.style import save_figure
from cnr.reporting.tables import save_table
from cnr.run import resolve_run
from cnr.studies.convergence import EOT, RESTARTS, STEPS, convergence, flat_from


def _existing(path: Path, args: argparse.Namespace) -> dict[tuple[str, float], pd.DataFrame]:
    """Parts of an earlier table measured with the same n and the same sweep values, by (defense, budget)."""
    if not path.is_file():
        return {}
    df = read_plain_table(path)
    want = sorted([("steps", v) for v in args.steps] + [("eot", v) for v in args.eot]
                  + [("restarts", v) for v in args.restarts])
    out = {}
    for (d, b), g in df.groupby(["defense", "budget"]):
        if (g["n"] == args.n).all() and sorted(zip(g["sweep"], g["value"].astype(int))) == want:
            out[(d, float(b))] = g
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.1, 0.05])
    ap.add_argument("--defenses", nargs="+", default=["dynamic-N3", "static-N3"])
    ap.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    ap.add_argument("--eot", type=int, nargs="+", default=list(EOT))
    ap.add_argument("--restarts", type=int, nargs="+", default=list(RESTARTS))
    ap.add_argument("--fresh", action="store_true", help="ignore the parts of an existing table")
    args = ap.parse_args()
    run = resolve_run(args.profile)
    ev = make_evaluator(run)
    old = _existing(run.tables_dir / "convergence.csv", args) if not args.fresh else {}
    parts = []
    for budget in args.budgets:
        for defense in args.defenses:
            if (defense, budget) in old:
                print(f"{defense} Linf {budget:g}: kept from the existing table")
                parts.append(old[(defense, budget)])
                continue
            parts.append(convergence(ev, defenses=(defense,), budgets=(budget,), n=args.n, steps=args.steps,
                                     eot=args.eot, restarts=args.restarts))
            df = pd.concat(parts, ignore_index=True)
            save_table(df, run.tables_dir, "convergence")
            save_figure(convergence_figure(df), run.figures_dir, "convergence")
    df = pd.concat(parts, ignore_index=True)
    save_table(df, run.tables_dir, "convergence")
    save_figure(convergence_figure(df), run.figures_dir, "convergence")
    for sweep in ("steps", "eot", "restarts"):
        print(flat_from(df, sweep).to_string(index=False))


if __name__ == "__main__":
    main()

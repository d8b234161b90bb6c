"""Convergence of BPDA-PGD and EOT-BPDA on static-N3 and dynamic-N3 (the justification of a profile's step, EOT and
restart settings, with the cross-entropy and the margin loss): writes results/<run>/tables/convergence.{csv,md,tex}
and figures/convergence.{png,pdf} after every (defense, norm, budget, loss); a re-run keeps the parts already measured
with the same n and sweeps (pass --fresh to redo them), so one process per defense can run side by side, each with
--out, and a last run with --merge and the same sweep arguments joins their tables.

    python benchmarks/convergence.py                                  # quick: Linf 0.1 and 0.05, 200 images, CE
    python benchmarks/convergence.py --profile imagenet --n 20 --budgets 4/255 --steps 5 10 20 40 80 \\
        --eot 1 2 4 8 16 --restarts 1 2 3 --losses ce margin
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import pandas as pd

from cnr.eval.evaluator import make_evaluator
from cnr.eval.rows import read_plain_table
from cnr.reporting.figures import convergence_figure
from cnr.reporting.style import save_figure
from cnr.reporting.tables import save_table
from cnr.run import resolve_run
from cnr.studies.convergence import EOT, RESTARTS, STEPS, convergence, flat_from, with_loss

PART = ["defense", "norm", "budget", "loss"]


def budget(text: str) -> float:
    """A budget as a number or a fraction (4/255)."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"not a budget: {text!r} (a number such as 0.05 or a fraction such as 4/255)") from None


def _parts(path: Path, args: argparse.Namespace) -> dict[tuple, pd.DataFrame]:
    """Parts of a table measured with the same n and the same sweep values, by (defense, norm, budget, loss)."""
    if not path.is_file():
        return {}
    df = with_loss(read_plain_table(path))
    want = sorted([("steps", v) for v in args.steps] + [("eot", v) for v in args.eot]
                  + [("restarts", v) for v in args.restarts])
    return {(d, norm, round(float(b), 4), loss): g for (d, norm, b, loss), g in df.groupby(PART)
            if (g["n"] == args.n).all() and sorted(zip(g["sweep"], g["value"].astype(int))) == want}


def _save(parts: list[pd.DataFrame], out: Path, figures: Path | None) -> pd.DataFrame:
    df = pd.concat(parts, ignore_index=True)
    df["budget"] = df["budget"].round(4)  # as the table stores it, so parts read back and parts just run agree
    df = df.sort_values(PART, kind="stable")
    save_table(df, out, "convergence")
    if figures is not None:
        save_figure(convergence_figure(df), figures, "convergence")
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--norm", choices=("linf", "l2"), default="linf")
    ap.add_argument("--budgets", type=budget, nargs="+", default=[0.1, 0.05])
    ap.add_argument("--defenses", nargs="+", default=["dynamic-N3", "static-N3"])
    ap.add_argument("--losses", nargs="+", choices=("ce", "margin"), default=["ce"])
    ap.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    ap.add_argument("--eot", type=int, nargs="+", default=list(EOT))
    ap.add_argument("--restarts", type=int, nargs="+", default=list(RESTARTS))
    ap.add_argument("--out", type=Path, help="the table's folder (default: the run's tables/); a part of the work")
    ap.add_argument("--merge", type=Path, nargs="*", default=[], help="tables folders of parts run with --out")
    ap.add_argument("--fresh", action="store_true", help="ignore the parts of an existing table")
    args = ap.parse_args()
    run = resolve_run(args.profile)
    out = args.out or run.tables_dir
    figures = None if args.out else run.figures_dir
    old = {} if args.fresh else _parts(out / "convergence.csv", args)
    for folder in args.merge:
        old.update(_parts(folder / "convergence.csv", args))
    ev = None
    parts = list(old.values())
    for b in args.budgets:
        for defense in args.defenses:
            for loss in args.losses:
                if (defense, args.norm, round(b, 4), loss) in old:
                    print(f"{defense} {args.norm} {b:g} {loss}: kept from an existing table")
                    continue
                ev = make_evaluator(run) if ev is None else ev
                parts.append(convergence(ev, defenses=(defense,), budgets=(b,), n=args.n, steps=args.steps,
                                         eot=args.eot, restarts=args.restarts, norm=args.norm, losses=(loss,)))
                _save(parts, out, figures)
    df = _save(parts, out, figures)
    for sweep in ("steps", "eot", "restarts"):
        print(flat_from(df, sweep).to_string(index=False))


if __name__ == "__main__":
    main()

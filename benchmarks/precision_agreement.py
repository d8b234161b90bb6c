"""Does another `compute` setting keep a profile's numbers? Re-run some of its committed cells in that setting, at the
committed sample sizes, and compare them with the committed rows by `cnr compare`'s test (Fisher, Holm).

How the paper-size bank's restorers were cleared for bf16 (the `study` profile's rows are float32):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/precision_agreement.py --profile study \
        --set compute.precision=bf16-restorers --defenses static-N3 dynamic-N3 \
        --cells clean bpda-pgd:linf:0.1 bpda-pgd:l2:0.2 eot-bpda-pgd:linf:0.1
"""
from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd
import torch

from cnr.analysis.compare import compare_tables, verdict
from cnr.cells.groups import build_grid
from cnr.config import parse_override
from cnr.eval.evaluator import make_evaluator
from cnr.run import resolve_run


def wanted(spec: str) -> tuple[str, str | None, float | None]:
    """`label` or `label:norm:budget`."""
    label, *rest = spec.split(":")
    return (label, rest[0], float(rest[1])) if rest else (label, None, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="study")
    ap.add_argument("--set", action="append", default=[], help="the setting to check, path=value (repeatable)")
    ap.add_argument("--defenses", nargs="+", default=["static-N3", "dynamic-N3"])
    ap.add_argument("--cells", nargs="+", default=["clean", "bpda-pgd:linf:0.1"], help="label or label:norm:budget")
    args = ap.parse_args()
    torch.set_num_threads(1)
    committed = resolve_run(args.profile).robustness_csv
    with tempfile.TemporaryDirectory() as scratch:  # the checked setting's rows are not kept
        run = resolve_run(args.profile, dict(parse_override(i) for i in args.set), results_root=scratch)
        ev = make_evaluator(run)
        specs = [wanted(s) for s in args.cells]
        cells = [c for c in build_grid(run.profile) if c.defense.name in args.defenses and any(
            c.attack.label == label and (norm is None or (c.attack.norm == norm and abs(c.attack.budget - b) < 1e-9))
            for label, norm, b in specs)]
        if not cells:
            raise SystemExit(f"no cell of {args.cells} on {args.defenses} in profile {args.profile}")
        rows = []
        for c in cells:
            t0 = time.process_time()
            rows.append(ev.run_cell(c))
            print(f"{c.defense.name:<12} {c.attack.label:<16} {c.attack.norm} {c.attack.budget:<6g} n={rows[-1]['n']} "
                  f"accuracy {rows[-1]['accuracy']:.3f} worst {rows[-1]['worst_accuracy']:.3f}  "
                  f"{time.process_time() - t0:.0f} CPU s", flush=True)
    cmp = compare_tables(pd.read_csv(committed, float_precision="round_trip"), pd.DataFrame(rows))
    matched = cmp[cmp["status"] == "matched"]
    print(matched[["defense", "attack", "norm", "budget", "worst_accuracy_ref", "worst_accuracy_cand",
                   "worst_accuracy_p"]].to_string(index=False))
    print(f"{run.name} against {committed}: {verdict(matched)}")


if __name__ == "__main__":
    main()

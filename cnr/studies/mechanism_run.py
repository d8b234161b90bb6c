"""The mechanism measurements of a run, as the study makes them: tables saved under results/<run>/mechanism as each
is measured, resumed measurement by measurement (never mixing two setups), and drawn as figures."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cnr import atomic
from cnr.errors import InputError
from cnr.run import Run
from cnr.studies.mechanism import MEASUREMENTS, mechanism_jobs, timed

SETUP_FILE = "mechanism_setup.json"


def mechanism_setup(run: Run) -> dict[str, Any]:
    """What a run's measurements depend on; stored beside its tables so that a resumed run never mixes two setups."""
    from cnr.data import BANK_FAMILY
    from cnr.paths import relative

    p = run.profile
    return dict(dataset=p.data.dataset, classifier=p.data.classifier,
                bank=relative(run.bank_dir(BANK_FAMILY[p.data.dataset])), n_images=p.mechanism.n,
                ns=list(p.mechanism.ns), draws=p.mechanism.draws, reference=p.mechanism.reference,
                qf_range=list(p.grid.qf_range), seed=p.seed)


def _check_stored_setup(tables_dir: Path, setup: dict[str, Any]) -> None:
    """Stored measurements are resumed only if they were made with this run's setup (never silently mixed)."""
    from cnr.paths import relative

    path = tables_dir / SETUP_FILE
    if not path.is_file():
        raise InputError(f"{relative(tables_dir)} has mechanism tables but no {SETUP_FILE} saying how they were made: "
                         "move them away to measure again")
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {relative(path)} ({e}): move the folder away to measure again") from None
    diff = {k: (stored.get(k), v) for k, v in setup.items() if stored.get(k) != v}
    if diff:
        raise InputError(f"{relative(tables_dir)} was measured with "
                         + ", ".join(f"{k}={was!r}" for k, (was, _) in diff.items()) + "; this run asks for "
                         + ", ".join(f"{k}={now!r}" for k, (_, now) in diff.items())
                         + ": move that folder away (or pass resume=False to measure again)")


def run_mechanism(run: Run, resume: bool = True) -> dict[str, pd.DataFrame]:
    """The four measurements on the run's bank and classifier (its first `mechanism_n` images), tables and figures
    under results/<run>/mechanism. Each table is saved as soon as it is measured; with `resume`, those already
    there (made with the setup recorded in mechanism_setup.json) are read back and only the missing ones are
    measured."""
    from cnr.eval.evaluator import make_evaluator
    from cnr.eval.rows import read_plain_table
    from cnr.reporting.mechanism_figures import save_mechanism_figures
    from cnr.table_files import save_table

    tables_dir, figures_dir = run.mechanism_dir / "tables", run.mechanism_dir / "figures"
    paths = {m: tables_dir / f"mechanism_{m}.csv" for m in MEASUREMENTS}
    p, setup = run.profile, mechanism_setup(run)
    hint = "delete it and rerun: the other measurements resume"
    stored = {m: read_plain_table(path, hint) for m, path in paths.items() if resume and path.is_file()}
    if stored:
        _check_stored_setup(tables_dir, setup)
    if len(stored) == len(MEASUREMENTS):
        return {m: stored[m] for m in MEASUREMENTS}
    ev = make_evaluator(run, n=p.mechanism.n)  # checks that the dataset has that many images
    if not stored:
        atomic.write_text(tables_dir / SETUP_FILE, json.dumps(setup, indent=1) + "\n")
    jobs = mechanism_jobs(ev.bank, ev.classifier, ev.x, ev.y, p.grid.qf_range, p.mechanism.ns,
                          draws=p.mechanism.draws, reference=p.mechanism.reference, seed=p.seed)
    wall_path = tables_dir / "mechanism_wall.csv"
    old_wall = read_plain_table(wall_path) if stored else pd.DataFrame()
    wall = [r for r in old_wall.to_dict("records") if r.get("measurement") in stored]
    tables = {}
    for m in MEASUREMENTS:
        if m in stored:
            tables[m] = stored[m]
            continue
        tables[m], row = timed(m, jobs[m], len(ev.x))
        save_table(tables[m], tables_dir, f"mechanism_{m}", floatfmt=".4f")
        wall = sorted([*wall, row], key=lambda r: MEASUREMENTS.index(r["measurement"]))
        save_table(pd.DataFrame(wall), tables_dir, "mechanism_wall", floatfmt=".1f")
    save_mechanism_figures(tables, figures_dir)
    return tables

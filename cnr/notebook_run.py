"""Where a notebook writes: a Papermill run (`cnr reproduce`, `make`) names its results folder in the `results_root`
parameter; a person's session (JupyterLab or any other launcher) leaves it None and gets a run folder of its own
under results/interactive/, which git ignores, so that the committed results/<run>/ never change by hand."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from cnr.paths import INTERACTIVE_DIR, RESULTS_DIR, relative
from cnr.run import Run, resolve_run


def is_session(results_root: Any) -> bool:
    """True for a person running a notebook: Papermill runs of the kit always pass `results_root`."""
    return results_root is None


def notebook_run(profile: str, overrides: dict[str, Any] | None = None, seed: int | None = None,
                 retrain: bool = False, results_root: str | Path | None = None) -> Run:
    """The notebook's run: in the folder Papermill named, else (a person's session) under results/interactive/,
    started as a copy of the committed run folder so that later notebooks find the tables they read."""
    if not is_session(results_root):
        return resolve_run(profile, overrides, seed=seed, retrain=retrain, results_root=results_root)
    run = resolve_run(profile, overrides, seed=seed, retrain=retrain, results_root=INTERACTIVE_DIR)
    copied = start_from_committed(run)
    start = f", started from a copy of {relative(committed_dir(run))}" if copied else ""
    print(f"interactive session: this notebook writes to {relative(run.out_dir)}{start} (ignored by git); the "
          f"committed results change only through `cnr reproduce --profile {run.profile.name}` or `make`")
    return run


def committed_run(run: Run) -> Run:
    """The same run in the repository's results/ (the folder `cnr reproduce` writes and git tracks)."""
    return replace(run, results_root=str(RESULTS_DIR))


def committed_dir(run: Run) -> Path:
    """The run's folder in the repository's results/."""
    return committed_run(run).out_dir


def start_from_committed(run: Run) -> bool:
    """Copy the committed run folder (tables, figures, records; not the executed notebooks) into a session's run
    folder that does not exist yet; returns whether it copied. Runs outside results/interactive/ are left alone."""
    if Path(run.results_root).resolve() != INTERACTIVE_DIR.resolve() or run.out_dir.exists():
        return False
    source = committed_dir(run)
    if not source.is_dir():
        return False
    shutil.copytree(source, run.out_dir, ignore=shutil.ignore_patterns("*.ipynb", "*.tmp"))
    return True

"""Run the notebooks in order with Papermill: one line per notebook, and a failure that names notebook and cell."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cnr.errors import CnrError, InputError
from cnr.eval.rows import SIDECAR_SUFFIX
from cnr.kernel import ENV, ensure_installed
from cnr.paths import NOTEBOOK_DIR, REPO_ROOT, relative
from cnr.run import Run


class NotebookFailed(CnrError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def notebooks(start: str | None = None, only: tuple[str, ...] = ()) -> list[Path]:
    """The notebooks in run order, optionally from a prefix such as '03', and only those of `only`'s prefixes."""
    books = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise CnrError(f"no notebooks in {NOTEBOOK_DIR}: `cnr reproduce` runs the kit's notebooks, which an installed "
                       "package does not carry. Clone the kit's source repository (notebooks/, results/ with the "
                       "committed tables a run is compared with, data/, the Makefile) and run `make reproduce` or "
                       "`cnr reproduce` in the clone; from this install, `cnr grid --profile <profile>` runs a grid "
                       "into ./results/<run>/tables/")
    if only:
        books = [b for b in books if b.name[:2] in only]
        if not books:
            raise InputError(f"none of the profile's notebooks {', '.join(only)} is in {NOTEBOOK_DIR}")
    if start is not None:
        if not isinstance(start, str) or not start.strip():  # '' would match every notebook: say which one
            raise InputError(f"--from takes a notebook's prefix such as 03, got {start!r}")
        names = [b.name for b in books]
        match = [i for i, b in enumerate(names) if b.startswith(start)]
        if not match:
            raise InputError(f"--from {start!r} matches no notebook; notebooks: {', '.join(names)}")
        books = books[match[0]:]
    return books


def run_notebook(path: Path, out_dir: Path, parameters: dict[str, Any], log_output: bool = False) -> Path:
    """Execute one notebook with its working directory set to the repo root; the executed copy goes to out_dir."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / path.name
    added = {k: v for k, v in ENV.items() if k not in os.environ}
    os.environ.update(added)  # the kernel inherits this process's environment (and its spec sets the same)
    try:
        pm.execute_notebook(str(path), str(out), parameters=parameters, cwd=str(REPO_ROOT),
                            kernel_name=ensure_installed(), progress_bar=False, log_output=log_output)
    except PapermillExecutionError as e:
        raise NotebookFailed(
            f"{path.name} failed in cell {e.cell_index} (execution count {e.exec_count}"
            f"{_cell_head(out, e.exec_count)}): {e.ename}: {e.evalue}. "
            f"The executed copy with the outputs so far is {out}"
        ) from None
    finally:
        for k in added:
            os.environ.pop(k, None)
        if out.is_file():
            relative_paths(out)
    return out


def relative_paths(executed: Path) -> None:
    """Rewrite an executed notebook so that it names no absolute path of this checkout (papermill's metadata,
    warnings in outputs): committed copies read the same on every machine."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in meta:
            meta[key] = relative(meta[key])
    root = str(REPO_ROOT) + "/"
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if "text" in o:
                o["text"] = o["text"].replace(root, "")
    nbformat.write(nb, str(executed))


def _cell_head(executed: Path, exec_count: int | None) -> str:
    """', starting `first line`' of the executed cell with that execution count, or '' if it cannot be read."""
    try:
        import nbformat

        nb = nbformat.read(str(executed), as_version=4)
        src = next(c.source for c in nb.cells if c.get("execution_count") == exec_count and c.cell_type == "code")
        line = next((ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
        return f", starting `{line[:80]}`" if line else ""
    except Exception:  # the message must never fail because the copy is unreadable
        return ""


def notebook_parameters(run: Run) -> dict[str, Any]:
    """The Papermill parameters that rebuild this run inside a notebook (its own `resolve_run` call)."""
    over = {k: v for k, v in run.overrides if k != "seed"}
    overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in over.items()}
    return {"profile": run.profile.name, "overrides": overrides, "seed": run.seed, "retrain": run.retrain,
            "results_root": relative(run.results_root)}


def reproduce(run: Run, start: str | None = None, log_output: bool = False, compare: bool = True,
              fresh: bool = False) -> list[tuple[str, float]]:
    """Run every notebook (or from `start` on) for a run; prints and returns (notebook, seconds).

    The results table found before the run (the shipped one, in a fresh clone) is the reference: kept as a copy in
    robustness.before.csv, and the grid resumes from it (long profiles, finished cell by cell over sessions). With
    `fresh` it is moved there instead, with the shards' rows merged into it, so every row is computed again; an
    interrupted fresh run resumes its own rows and keeps that reference. With `compare`, the table is checked against
    the reference row by row at the end (`cnr compare`): bit-identical on the machine that made it, statistically the
    same on another CPU."""
    from cnr.checks import check_writable

    if fresh and start is not None:
        raise InputError("a fresh reproduction runs every notebook: drop --from, or drop --fresh to go on from "
                         f"notebook {start} with the table that is there")
    books = notebooks(start, run.profile.notebooks)  # before any folder is made: nothing to run is an error
    for folder in (run.notebooks_dir, run.tables_dir, run.figures_dir):
        check_writable(folder)
    out_dir = run.notebooks_dir
    params = notebook_parameters(run)
    reference = _set_aside(run) if fresh else _keep_reference(run)
    timings = []
    total = time.perf_counter()
    for nb in books:
        t0 = time.perf_counter()
        run_notebook(nb, out_dir, params, log_output=log_output)
        dt = time.perf_counter() - t0
        timings.append((nb.name, dt))
        print(f"{nb.name:<22} {dt:7.1f} s   -> {relative(out_dir / nb.name)}", flush=True)
    print(f"{'total':<22} {time.perf_counter() - total:7.1f} s   (run {run.name})", flush=True)
    if fresh:
        _in_progress(run).unlink(missing_ok=True)
    if compare and reference is not None and run.robustness_csv.is_file():
        from cnr.analysis.compare import compare_tables, verdict

        print(f"compared with the table this run replaced ({relative(reference)}): "
              f"{verdict(compare_tables(reference, run.robustness_csv))}", flush=True)
    return timings


def _in_progress(run: Run) -> Path:
    """The mark of a fresh reproduction that has not finished: while it is there, a new one resumes."""
    return run.robustness_csv.with_name("robustness.reproducing")


def _keep_reference(run: Run) -> Path | None:
    """Copy the results table that is there before the run (e.g. the shipped one) to robustness.before.csv."""
    import shutil

    ref = run.robustness_csv.with_name("robustness.before.csv")
    if _in_progress(run).is_file():  # a fresh reproduction's reference stays until that reproduction ends
        return ref if ref.is_file() else None
    if not run.robustness_csv.is_file():
        return None
    shutil.copyfile(run.robustness_csv, ref)
    side = Path(str(run.robustness_csv) + SIDECAR_SUFFIX)
    if side.is_file():
        shutil.copyfile(side, str(ref) + SIDECAR_SUFFIX)
    else:  # a sidecar left from another table would misdescribe this one
        Path(str(ref) + SIDECAR_SUFFIX).unlink(missing_ok=True)
    return ref


def _set_aside(run: Run) -> Path | None:
    """Move the table that is there before a fresh reproduction to robustness.before.csv, with every finished row
    (the shards' .jsonl merged in, then removed) and its sidecar; a run that was interrupted keeps its rows and the
    reference it set aside then (the mark says whether there is one)."""
    from cnr.eval.merge import merged_rows, row_files, write_merged

    csv = run.robustness_csv
    ref = csv.with_name("robustness.before.csv")
    mark = _in_progress(run)
    if mark.is_file():
        kept = mark.read_text().startswith("reference")
        print(f"resuming the reproduction that {relative(mark)} marks; reference: "
              f"{relative(ref) if kept else 'none'}", flush=True)
        return ref if kept and ref.is_file() else None
    shard_rows = row_files(csv)
    if shard_rows:
        write_merged(*merged_rows(csv), csv)  # the rows no table holds yet go into the reference, not lost
        for path in shard_rows:
            path.unlink()
    moved = csv.is_file()
    if moved:
        Path(str(ref) + SIDECAR_SUFFIX).unlink(missing_ok=True)
        for suffix in ("", SIDECAR_SUFFIX):
            if Path(str(csv) + suffix).is_file():
                os.replace(str(csv) + suffix, str(ref) + suffix)
        print(f"{relative(csv)} moved to {relative(ref)}: every row is computed again", flush=True)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(("reference: robustness.before.csv" if moved else "no reference")
                    + "\na fresh reproduction of this run is under way; cnr reproduce --fresh resumes it\n")
    return ref if moved else None

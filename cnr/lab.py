"""`make lab`: JupyterLab on copies of the notebooks in results/interactive/notebooks/, which git ignores, so that
autosave (outputs, widget state, kernel metadata, edited parameters) never touches the committed notebooks/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from cnr.paths import LAB_DIR, NOTEBOOK_DIR, relative


def _code(path: Path) -> list[str]:
    """A notebook's code cells' sources: what decides whether a copy still matches its committed notebook."""
    return [c.source for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]


def lab_copies(source: Path = NOTEBOOK_DIR, dest: Path = LAB_DIR) -> dict[str, str]:
    """Copy each committed notebook that has no copy yet; keep every existing copy (a person's work).

    Returns, per notebook name, "copied", "kept" or "kept, differs" (its code no longer matches the committed one)."""
    dest.mkdir(parents=True, exist_ok=True)
    status = {}
    for nb in sorted(source.glob("[0-9][0-9]_*.ipynb")):
        copy = dest / nb.name
        if not copy.exists():
            copy.write_bytes(nb.read_bytes())
            status[nb.name] = "copied"
        else:
            status[nb.name] = "kept" if _code(copy) == _code(nb) else "kept, differs"
    return status


def main(argv: list[str] | None = None) -> int:
    """Refresh the copies, say which were kept, and start JupyterLab on them with the given extra arguments."""
    argv = sys.argv[1:] if argv is None else argv
    status = lab_copies()
    differ = [name for name, s in status.items() if s == "kept, differs"]
    print(f"JupyterLab on copies of notebooks/ in {relative(LAB_DIR)} (ignored by git; outputs go to "
          f"{relative(LAB_DIR.parent)}/<run>/)")
    if differ:
        print(f"kept your copies of {', '.join(differ)}, whose code differs from notebooks/: delete a copy to start "
              f"again from the committed notebook")
    return subprocess.call([sys.executable, "-m", "jupyterlab", f"--notebook-dir={LAB_DIR}", *argv])


if __name__ == "__main__":
    raise SystemExit(main())

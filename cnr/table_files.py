"""A results table saved as CSV, Markdown and LaTeX: the one writer both the evaluation and the reporting use."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cnr import atomic
from cnr.errors import InputError


def save_table(df: pd.DataFrame, out_dir: str | Path, name: str, floatfmt: str = ".3f") -> list[Path]:
    """Save a table as CSV, Markdown and LaTeX, each file whole or not at all (runs resume from these tables)."""
    out_dir = Path(out_dir)
    if not isinstance(name, str) or not name.strip() or Path(name).name != name or name in (".", ".."):
        raise InputError(f"a table's name is a plain file name without a folder or suffix (e.g. 'ensemble'), got "
                         f"{name!r}")
    paths = [out_dir / f"{name}.csv", out_dir / f"{name}.md", out_dir / f"{name}.tex"]
    texts = [df.to_csv(index=False, float_format="%.4f"), df.to_markdown(index=False, floatfmt=floatfmt) + "\n",
             df.to_latex(index=False, float_format=lambda v: format(v, floatfmt), escape=True)]
    for path, text in zip(paths, texts):
        atomic.write_text(path, text)
    return paths

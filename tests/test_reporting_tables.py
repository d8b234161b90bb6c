"""cnr.reporting.tables: the tables the figures notebook writes, from a results table."""
from __future__ import annotations


def test_saved_tables_are_whole_files_readable_like_any_other(tmp_path):
    """save_table writes each file atomically (no temporary left behind) with the umask's mode, not mkstemp's 0600."""
    import os

    import pandas as pd

    from cnr.reporting.tables import save_table

    paths = save_table(pd.DataFrame({"defense": ["jpeg"], "value": [0.12345]}), tmp_path / "t", "demo")
    mask = os.umask(0)
    os.umask(mask)
    assert [p.name for p in sorted((tmp_path / "t").iterdir())] == ["demo.csv", "demo.md", "demo.tex"]
    assert paths[0].read_text() == "defense,value\njpeg,0.1235\n"
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in paths)

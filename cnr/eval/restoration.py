"""Moved to cnr.studies.restoration; this path stays for one release (a re-export, not part of the layers)."""
from cnr.studies.restoration import (  # noqa: F401
    CORPUS_TEST_CROPS,
    restoration_rows,
    restoration_table,
    write_restoration_table,
)

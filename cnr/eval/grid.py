"""Moved to cnr.grid; this path stays for one release (a re-export, not part of the layers)."""
from cnr.grid import (  # noqa: F401
    WORKER_ENV,
    WORKERS_PER_CORE,
    check_workers,
    parse_shard,
    run_cells,
    run_grid,
    run_workers,
    write_results,
)

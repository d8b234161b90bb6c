"""Moved to cnr.cells.groups (below the run boundary, which checks group names); this path stays for one release."""
from cnr.cells.groups import GROUPS, CellGroup, build_grid, register_group, unregister_group  # noqa: F401

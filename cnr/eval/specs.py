"""Moved to cnr.cells.specs (below the run boundary, which checks group names); this path stays for one release."""
from cnr.cells.specs import KINDS, SAMPLES, VIEWS, AttackSpec, Cell  # noqa: F401

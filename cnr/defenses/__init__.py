"""Defenses in front of a classifier: (Compress and Restore)^N and a registry that puts any defense in the grid."""
from cnr.defenses.compress_restore import (
    CompressRestore,
    Defended,
    build_compress_restore,
    compress_restore_family,
    parse_variant,
)
from cnr.defenses.legacy import build_legacy, legacy_family
from cnr.defenses.registry import (
    BUILDERS,
    FAMILIES,
    VARIANTS,
    DefenseSpec,
    defense_by_name,
    grid_defenses,
    register_defense,
    unregister_defense,
)


def _undefended(p) -> list[DefenseSpec]:
    return [DefenseSpec("none", "none", "none", 0, None, frozenset({"main"}))]


register_defense("none", lambda spec, bank, grad, seed: None, _undefended)
register_defense("compress-restore", build_compress_restore, compress_restore_family, parse_variant)
register_defense("legacy", build_legacy, legacy_family)

__all__ = ["BUILDERS", "FAMILIES", "VARIANTS", "CompressRestore", "Defended", "DefenseSpec", "defense_by_name",
           "grid_defenses", "register_defense", "unregister_defense"]

"""A registered defense can be built by names outside the grid (as compress-restore builds `static-N<k>` for any k)
through its own variant parser, which the registry consults without knowing any defense."""
from __future__ import annotations

import pytest

from cnr.defenses import VARIANTS, DefenseSpec, defense_by_name, register_defense, unregister_defense
from cnr.errors import InputError
from cnr.profiles import PROFILES


def blur_variant(name: str, profile) -> DefenseSpec | None:
    """'blur-<k>': a k x k blur."""
    size = name.removeprefix("blur-")
    return DefenseSpec(name, "blur", "blur", int(size)) if name.startswith("blur-") and size.isdigit() else None


def test_a_registered_variant_parser_builds_names_outside_the_grid():
    smoke = PROFILES["smoke"]
    register_defense("blur", lambda spec, bank, grad, seed: None, variant=blur_variant)
    try:
        assert defense_by_name(smoke, "blur-5") == DefenseSpec("blur-5", "blur", "blur", 5)
        assert defense_by_name(smoke, "static-N7").n_iter == 7  # the compress-restore parser still answers its names
        with pytest.raises(InputError, match="unknown defense 'blur-x'"):
            defense_by_name(smoke, "blur-x")
    finally:
        unregister_defense("blur")
    assert "blur" not in VARIANTS
    with pytest.raises(InputError, match="unknown defense 'blur-5'"):
        defense_by_name(smoke, "blur-5")

"""cnr.paths: a path inside the repository is shown relative to it, one outside in full."""
from __future__ import annotations

from cnr.paths import REPO_ROOT, WEIGHTS_DIR, relative


def test_relative_paths_inside_and_outside_the_repository(tmp_path):
    assert relative(WEIGHTS_DIR / "fmnist-cnn.safetensors") == "cnr/shipped/fmnist-cnn.safetensors"
    assert relative(REPO_ROOT) == "."
    assert relative(tmp_path) == str(tmp_path.resolve())

"""cnr.paths: a path inside the repository is shown relative to it, one outside in full."""
from __future__ import annotations

from cnr.paths import REPO_ROOT, WEIGHTS_DIR, relative


def test_relative_paths_inside_and_outside_the_repository(tmp_path):
    assert relative(WEIGHTS_DIR / "fmnist-cnn.safetensors") == "cnr/shipped/fmnist-cnn.safetensors"
    assert relative(REPO_ROOT) == "."
    assert relative(tmp_path) == str(tmp_path.resolve())


def test_env_folder_is_parsed_like_an_argument(tmp_path, monkeypatch):
    """~ expanded (a quoted '~/out' would otherwise make a folder named "~"), a file or a blank refused."""
    import pytest

    from cnr.errors import InputError
    from cnr.paths import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CNR_CACHE", "~/cache")
    assert cache_dir() == tmp_path / "cache"
    for value, needle in (("/dev/null", "CNR_CACHE=/dev/null.*not a folder"), ("  ", "CNR_CACHE.*empty")):
        monkeypatch.setenv("CNR_CACHE", value)
        with pytest.raises(InputError, match=needle):
            cache_dir()


def test_shipped_weights_are_refused_as_an_output_whatever_the_spelling(tmp_path, monkeypatch):
    import pytest

    from cnr.errors import InputError
    from cnr.paths import REPO_ROOT, WEIGHTS_DIR, refuse_shipped, shipped_writes_allowed

    monkeypatch.chdir(REPO_ROOT)
    link = tmp_path / "link"
    link.symlink_to(WEIGHTS_DIR)
    for spelling in ("cnr/shipped/fmnist-cnn.safetensors", "results/../cnr/shipped/argan-fmnist-quick",
                     "./cnr//shipped", str(link / "fmnist-cnn.safetensors")):
        with pytest.raises(InputError, match="--overwrite-shipped"):
            refuse_shipped(spelling)
    refuse_shipped("results/quick/models/fmnist-cnn.safetensors")  # outputs elsewhere are fine
    with shipped_writes_allowed():
        refuse_shipped("cnr/shipped/fmnist-cnn.safetensors")


def test_env_file_and_data_dir_are_parsed_like_arguments(tmp_path, monkeypatch):
    """A set variable that names no readable regular file is refused naming the variable (a pipe would block)."""
    import os

    import pytest

    from cnr.errors import InputError
    from cnr.paths import DATA_DIR, data_dir, env_file

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.setenv("HOME", str(tmp_path))
    for value, needle in (("", "is set but empty"), (str(tmp_path), "is a folder"), ("/nonexistent", "no such file"),
                          (str(tmp_path / "pipe"), "device, pipe or socket"), ("/dev/null", "device, pipe")):
        monkeypatch.setenv("CNR_X", value)
        with pytest.raises(InputError, match=f"environment variable CNR_X.*{needle}.*point it at the list"):
            env_file("CNR_X", "the list")
    monkeypatch.setenv("CNR_X", "~/f.txt")
    assert env_file("CNR_X", "the list") == tmp_path / "f.txt"
    monkeypatch.delenv("CNR_X")
    assert env_file("CNR_X", "the list") is None
    monkeypatch.delenv("CNR_DATA", raising=False)
    assert data_dir() == DATA_DIR
    monkeypatch.setenv("CNR_DATA", "~/data")
    assert data_dir() == tmp_path / "data"
    monkeypatch.setenv("CNR_DATA", str(tmp_path / "f.txt"))
    with pytest.raises(InputError, match="CNR_DATA=.*not a folder"):
        data_dir()

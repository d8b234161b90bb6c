"""Test-wide rules: no network (any attempt fails the test), quiet progress bars, fixed seeds, figures drawn off
screen; and the fixtures several test files share."""
from __future__ import annotations

import ipaddress
import os
import socket
import tempfile

import matplotlib
import pytest

matplotlib.use("Agg")

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("TQDM_DISABLE", "1")


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach beyond this machine."""


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)) and not isinstance(address, tuple):
        return True  # AF_UNIX path
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def block_network():
    """Fail any connection or DNS lookup beyond loopback (kernels and DDP on 127.0.0.1 stay allowed)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address):
        if not _is_local(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")

    def connect(self, address):
        guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        guard((host,))
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    yield
    socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex
    socket.getaddrinfo = real_getaddrinfo


def pytest_collection_modifyitems(config, items):
    """CNR_TEST_REVERSE=1 runs the suite in reverse order: a check that no test depends on another's leftovers."""
    if os.environ.get("CNR_TEST_REVERSE") == "1":
        items.reverse()


@pytest.fixture
def scratch_results(tmp_path, monkeypatch):
    """CNR_RESULTS in the test's own folder: a command that writes results writes them there, and a refused one
    leaves tmp_path/results absent."""
    monkeypatch.setenv("CNR_RESULTS", str(tmp_path / "results"))


@pytest.fixture(scope="session")
def smoke_table(tmp_path_factory):
    """The whole smoke grid, split over the profile's two worker processes (`cnr grid --run-json`), run once for the
    grid's and the sanity checks' tests."""
    from helpers import SMOKE_GRID_OVERRIDE

    from cnr.grid import run_grid
    from cnr.run import resolve_run

    root = tmp_path_factory.mktemp("grid")
    grid_run = resolve_run("smoke", SMOKE_GRID_OVERRIDE, results_root=root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(root))  # the run's JSON for the workers goes here too
        df = run_grid(grid_run)
    return df, grid_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The smoke run, writing into a fresh temporary results folder (never the repository's results/)."""
    from cnr.run import resolve_run

    return resolve_run("smoke", results_root=tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def ev(run):
    """The smoke run's evaluator (its images, classifier and bank), loaded once per test module."""
    from cnr.eval.evaluator import make_evaluator

    return make_evaluator(run)

"""Test-wide rules: no network (any attempt fails the test), quiet progress bars, fixed seeds."""
from __future__ import annotations

import ipaddress
import os
import socket

import pytest

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
    real_connect, real_connect_ex, real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

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
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = real_connect, real_connect_ex, real_getaddrinfo


def pytest_collection_modifyitems(config, items):
    """CNR_TEST_REVERSE=1 runs the suite in reverse order: a check that no test depends on another's leftovers."""
    if os.environ.get("CNR_TEST_REVERSE") == "1":
        items.reverse()


"""tests/conftest.py: a test that reaches for the network fails instead of waiting on it."""
from __future__ import annotations

import urllib.request

import pytest


def test_network_is_blocked():
    with pytest.raises(Exception, match="network"):
        urllib.request.urlopen("http://example.com", timeout=5)

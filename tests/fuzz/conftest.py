"""Property tests of the inputs users and clients control: CSV uploads, contracts, predict
requests and model manifests. The settings profile is registered in tests/conftest.py."""

from __future__ import annotations

import pytest
from hypothesis import settings
from pytest_socket import disable_socket


def share_of_examples(fraction: float) -> settings:
    """The loaded profile with a fraction of its examples, for the slower properties."""
    return settings(max_examples=max(10, int(settings.default.max_examples * fraction)))


@pytest.fixture(autouse=True)
def _no_network() -> None:
    disable_socket()

"""Unit tests run with sockets off: nothing here may touch a network or AWS."""

import pytest
from pytest_socket import disable_socket


@pytest.fixture(autouse=True)
def _no_network() -> None:
    disable_socket()

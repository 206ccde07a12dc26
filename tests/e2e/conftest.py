"""The whole bundle in the local cloud: template.yaml deployed into moto, events routed."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from mlops_cli.local.cloud import LocalCloud, local_cloud


@pytest.fixture
def function_logs() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def cloud(function_logs: io.StringIO) -> Iterator[LocalCloud]:
    with local_cloud(log_stream=function_logs) as running:
        yield running

"""The whole bundle in the local cloud: template.yaml deployed into moto, events routed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.local.cloud import TEMPLATE, LocalCloud, local_cloud
from mlops_cli.local.sam_template import load_source_template

from ..conftest import REPO_ROOT


@pytest.fixture
def function_logs() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def cloud(function_logs: io.StringIO) -> Iterator[LocalCloud]:
    with local_cloud(log_stream=function_logs) as running:
        yield running


def extended_template(tmp_path: Path, handlers: dict[str, str], resources: dict[str, Any]) -> Path:
    """template.yaml plus extra functions, as a later stage will add them, in tmp_path.

    ``handlers`` maps a folder under functions/ to its app.py source; the bundle's own
    functions and layers are linked in, so CodeUri paths resolve as in the repository.
    """
    for folder, source in handlers.items():
        (tmp_path / "functions" / folder).mkdir(parents=True)
        (tmp_path / "functions" / folder / "app.py").write_text(source)
    for own in (REPO_ROOT / "functions").iterdir():
        if own.is_dir() and not (tmp_path / "functions" / own.name).exists():
            (tmp_path / "functions" / own.name).symlink_to(own)
    (tmp_path / "layers").symlink_to(REPO_ROOT / "layers")
    template = load_source_template(TEMPLATE)
    template["Resources"].update(resources)
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(template))
    return path

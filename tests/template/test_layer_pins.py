"""What the layers ship is what the tests ran: every layer pin equals the dev constraints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

LAYER_REQUIREMENTS = sorted((REPO_ROOT / "layers").glob("*/requirements.txt"))


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_there_are_layer_requirements_to_check() -> None:
    assert {p.parent.name for p in LAYER_REQUIREMENTS} >= {"runtime-deps", "arrow-deps", "sklearn-deps"}


@pytest.mark.parametrize("requirements", LAYER_REQUIREMENTS, ids=lambda p: p.parent.name)
def test_every_layer_pin_matches_the_dev_constraints(requirements: Path) -> None:
    constraints = _pins(REPO_ROOT / "requirements" / "constraints.txt")

    mismatched = {
        name: (version, constraints.get(name))
        for name, version in _pins(requirements).items()
        if constraints.get(name) != version
    }

    assert mismatched == {}, f"{requirements}: layer pin vs requirements/constraints.txt"

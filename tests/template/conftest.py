"""Loads template.yaml and runs the SAM transform offline, for the static template checks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_cli.local.sam_template import ARTIFACT_PLACEHOLDER, Template, transform_template
from mlops_cli.local.sam_template import load_source_template as _load

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

__all__ = ["ARTIFACT_PLACEHOLDER", "REPO_ROOT", "TEMPLATE_PATH", "Template", "load_source_template"]


def load_source_template(path: Path = TEMPLATE_PATH) -> Template:
    return _load(path)


@pytest.fixture(scope="session")
def source_template() -> Template:
    return load_source_template()


@pytest.fixture(scope="session")
def cloudformation(source_template: Template) -> Template:
    return transform_template(source_template)


@pytest.fixture
def mutated_cloudformation(source_template: Template) -> Callable[[Callable[[Template], None]], Template]:
    """Transforms a copy of the source after `mutate` edited it, to show a check can fail."""

    def build(mutate: Callable[[Template], None]) -> Template:
        copy_of_source = copy.deepcopy(source_template)
        mutate(copy_of_source)
        return transform_template(copy_of_source)

    return build

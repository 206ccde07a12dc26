"""Loads template.yaml and runs the SAM transform offline, for the static template checks."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
ARTIFACT_PLACEHOLDER = "s3://placeholder-artifacts/code.zip"
OFFLINE_ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

Template = dict[str, Any]


class OfflineManagedPolicyLoader(ManagedPolicyLoader):  # type: ignore[misc]  # samtranslator is untyped
    """Answers SAM's managed-policy lookups without IAM: the template names none by short name."""

    def __init__(self) -> None:
        self._policy_map: dict[str, str] | None = {}

    def load(self) -> dict[str, str]:
        return {}


def load_source_template(path: Path = TEMPLATE_PATH) -> Template:
    """The SAM source as plain dicts, short-form tags (!Ref, !Sub) in their long form."""
    document = cfn_yaml.loads(path.read_text(encoding="utf-8"), str(path))
    plain: Template = json.loads(json.dumps(document))
    return plain


def _with_placeholder_artifacts(template: Template) -> Template:
    # The transform only accepts local paths after `sam package`; an S3 URI stands in for it.
    prepared = copy.deepcopy(template)
    for resource in prepared["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = ARTIFACT_PLACEHOLDER
    return prepared


def transform_template(template: Template) -> Template:
    """CloudFormation as `sam deploy` would submit it, computed offline."""
    saved = {name: os.environ.get(name) for name in OFFLINE_ENV}
    os.environ.update(OFFLINE_ENV)
    try:
        transformed: Template = transform(
            _with_placeholder_artifacts(template), {}, OfflineManagedPolicyLoader()
        )
        return transformed
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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

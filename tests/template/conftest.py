"""Loads template.yaml and runs the SAM transform offline, for the static template checks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.local.sam_template import ARTIFACT_PLACEHOLDER, Template, transform_template
from mlops_cli.local.sam_template import load_source_template as _load

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

__all__ = [
    "ARTIFACT_PLACEHOLDER",
    "REPO_ROOT",
    "TEMPLATE_PATH",
    "Template",
    "failure_queues",
    "load_source_template",
    "resources_of",
]


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


def resources_of(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def failure_queues(template: Template) -> set[str]:
    """Queues failures land in: OnFailure destinations, rule and schedule DLQs, and the
    dead-letter queue a function hands to the schedules it creates (its environment)."""
    queues = set(resources_of(template, "AWS::SQS::Queue"))

    def queue(value: Any) -> str | None:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute == "Arn" and logical_id in queues:
                return str(logical_id)
        return None

    found: list[str | None] = []
    for config in resources_of(template, "AWS::Lambda::EventInvokeConfig").values():
        on_failure = config["Properties"].get("DestinationConfig", {}).get("OnFailure", {})
        found.append(queue(on_failure.get("Destination")))
    for rule in resources_of(template, "AWS::Events::Rule").values():
        found += [queue(t.get("DeadLetterConfig", {}).get("Arn")) for t in rule["Properties"]["Targets"]]
    for schedule in resources_of(template, "AWS::Scheduler::Schedule").values():
        found.append(queue(schedule["Properties"]["Target"].get("DeadLetterConfig", {}).get("Arn")))
    for function in resources_of(template, "AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        found += [queue(value) for value in variables.values()]
    return {q for q in found if q is not None}

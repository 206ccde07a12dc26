"""`mlops demo` runs the bundle from template.yaml in the local cloud, and says where things went.

The demo is the whole loop (uploads good and bad, training, registration, approval by policy
and by a person, a canary, traffic, drift checks, retraining), so it is run once here and
also shows which AWS calls each function makes: every one must be granted by the function's
role in template.yaml, since moto does not enforce IAM.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.local.cloud import TEMPLATE
from mlops_cli.local.sam_template import load_source_template, transform_template
from mlops_cli.main import main

from .aws_calls import AwsCall, calls_recorded, iam_requests


@dataclass
class DemoRun:
    code: int
    out: str
    folder: Path
    calls: list[AwsCall]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    folder = tmp_path_factory.mktemp("demo")
    screen = io.StringIO()
    with pytest.MonkeyPatch.context() as env, calls_recorded() as calls, contextlib.redirect_stdout(screen):
        env.setenv("COLUMNS", "200")
        code = main(["demo", "--out", str(folder)])
    return DemoRun(code, screen.getvalue(), folder, calls)


def test_the_demo_gives_every_upload_the_verdict_it_was_made_for(demo: DemoRun) -> None:
    assert demo.code == 0, demo.out
    out, tmp_path = demo.out, demo.folder
    assert "stack deployed" in out and "contract published" in out
    assert out.count("Object Created") == 8  # six examples, next month's data, the new population's
    assert "every upload got the verdict it was made for" in out
    assert "training trained" in out and "model v1 Approved" in out
    assert "rollout InProgress" in out and "rollout Succeeded" in out
    assert "20 requests: churn v2 100%" in out
    reports = sorted((tmp_path / "reports" / "validation" / "churn").glob("*.json"))
    assert len(reports) == 8
    verdicts = sorted(json.loads(path.read_text())["valid"] for path in reports)
    assert verdicts == [False] * 5 + [True] * 3
    # drifted traffic: detected, confirmed 2 of 3, one alert, the report; new data trains v3, rolled out
    assert "churn v2: ok" in out
    assert out.count("CONFIRMED, alert sent") == 1
    assert "[mlops] drift confirmed: churn v2" in out
    assert "model v3 Approved" in out and "churn v3 100%" in out and "churn v3: ok" in out
    assert (tmp_path / "reports" / "drift" / "churn.html").read_text().count("<svg") >= 5
    assert (tmp_path / "function-logs.jsonl").stat().st_size > 0


def _resource_patterns(value: Any, buckets: set[str]) -> list[str]:
    """A policy Resource as glob patterns: the data bucket's ARN for any bucket, other refs as "*"."""
    if isinstance(value, list):
        return [pattern for item in value for pattern in _resource_patterns(item, buckets)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return ["arn:aws:s3:::*"] if logical_id in buckets and attribute == "Arn" else ["*"]
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        for bucket in buckets:
            text = text.replace("${" + bucket + ".Arn}", "arn:aws:s3:::*")
        return [re.sub(r"\$\{[^}]+\}", "*", text)]
    return ["*"]


def _granted(template: dict[str, Any], function: str) -> list[tuple[list[str], list[str]]]:
    """The (actions, resource patterns) the function's role allows (SAM names it <Function>Role)."""
    buckets = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::S3::Bucket"}
    role = template["Resources"][f"{function}Role"]
    granted: list[tuple[list[str], list[str]]] = []
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") == "Allow":
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                granted.append((actions, _resource_patterns(statement.get("Resource", "*"), buckets)))
    return granted


def _allows(granted: list[tuple[list[str], list[str]]], action: str, resource: str) -> bool:
    return any(
        any(fnmatchcase(action.lower(), a.lower()) for a in actions)
        and any(resource == "*" or fnmatchcase(resource, r) for r in resources)
        for actions, resources in granted
    )


def test_every_aws_call_a_function_makes_is_granted_by_its_role(demo: DemoRun) -> None:
    # Given the template as CloudFormation receives it (SAM's roles written out)
    template = transform_template(load_source_template(TEMPLATE))
    # When each call of the demo is matched with its function's role: the action, and for
    # S3 the object or bucket it is made on
    missing: dict[str, set[str]] = {}
    functions = set()
    for call in demo.calls:
        functions.add(call.function)
        granted = _granted(template, call.function)
        for action, resource in iam_requests(call):
            if not _allows(granted, action, resource):
                missing.setdefault(call.function, set()).add(f"{action} on {resource}")
    # Then every function ran, and none made a call its role does not allow
    assert functions >= {
        "ValidateDatasetFunction",
        "TrainModelFunction",
        "RegisterModelFunction",
        "DeployModelFunction",
        "PredictFunction",
        "CheckDriftFunction",
    }
    assert missing == {}


def test_the_role_check_refuses_what_a_role_does_not_grant() -> None:
    # Given validate_dataset's role, and a copy from incoming/ to validated/ as the gate makes
    granted = _granted(transform_template(load_source_template(TEMPLATE)), "ValidateDatasetFunction")
    copy = AwsCall(
        "ValidateDatasetFunction",
        "s3",
        "CopyObject",
        {"Bucket": "b", "Key": "validated/x.csv", "CopySource": {"Bucket": "b", "Key": "incoming/x.csv"}},
    )
    # Then the copy is allowed, and the same write under models/ or another service's call is not
    assert iam_requests(copy) == {
        ("s3:PutObject", "arn:aws:s3:::b/validated/x.csv"),
        ("s3:GetObject", "arn:aws:s3:::b/incoming/x.csv"),
    }
    assert all(_allows(granted, action, resource) for action, resource in iam_requests(copy))
    assert not _allows(granted, "s3:PutObject", "arn:aws:s3:::b/models/x.skops")
    assert not _allows(granted, "s3:GetObject", "arn:aws:s3:::b/validated/x.csv")
    assert not _allows(granted, "lambda:GetFunction", "*")

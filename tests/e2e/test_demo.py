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
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from mlops_cli.local.cloud import TEMPLATE
from mlops_cli.local.sam_template import load_source_template, transform_template
from mlops_cli.main import main

from .aws_calls import AwsCall, calls_recorded, iam_actions


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


def _granted(template: dict[str, object], function: str) -> list[str]:
    """The actions the function's role allows (SAM writes the role as <Function>Role)."""
    role = template["Resources"][f"{function}Role"]  # type: ignore[index]
    actions: list[str] = []
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") == "Allow":
                action = statement["Action"]
                actions += action if isinstance(action, list) else [action]
    return actions


def test_every_aws_call_a_function_makes_is_granted_by_its_role(demo: DemoRun) -> None:
    # Given the template as CloudFormation receives it (SAM's roles written out)
    template = transform_template(load_source_template(TEMPLATE))
    # When each call of the demo is matched with its function's role
    needed: dict[str, set[str]] = {}
    for call in demo.calls:
        needed.setdefault(call.function, set()).update(iam_actions(call))
    missing = {
        function: sorted(
            action
            for action in actions
            if not any(fnmatchcase(action.lower(), g.lower()) for g in _granted(template, function))
        )
        for function, actions in needed.items()
    }
    # Then every function ran, and none called an action its role does not allow
    assert set(needed) >= {
        "ValidateDatasetFunction",
        "TrainModelFunction",
        "RegisterModelFunction",
        "DeployModelFunction",
        "PredictFunction",
        "CheckDriftFunction",
    }
    assert {function: actions for function, actions in missing.items() if actions} == {}

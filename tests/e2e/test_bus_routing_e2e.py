"""Custom events on the project bus reach the functions whose rules match them, once per rule."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.local.runtime import FunctionTimeout

from .conftest import extended_template

ECHO_HANDLER = """
import json, os, time

def lambda_handler(event, context):
    with open(os.environ["ECHO_LOG"], "a") as log:
        log.write(json.dumps({"function": os.environ["NAME"], "event": event}) + "\\n")
    time.sleep(float(event.get("detail", {}).get("sleep", 0)) if isinstance(event, dict) else 0)
    return {"ok": True}
"""


def _echo(name: str, log: Path, pattern: dict[str, Any], **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"Pattern": pattern, "EventBusName": {"Ref": "EventBus"}}
    rule.update(extra)
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/echo/",
            "Handler": "app.lambda_handler",
            "Timeout": 1,
            "Environment": {"Variables": {"ECHO_LOG": str(log), "NAME": name}},
            "Events": {"OnEvent": {"Type": "EventBridgeRule", "Properties": rule}},
        },
    }


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[tuple[LocalCloud, Path]]:
    log = tmp_path / "echo.jsonl"
    validated = {"source": ["mlops.bundle"], "detail-type": ["DatasetValidated"]}
    shaping = {"InputPathsMap": {"run": "$.detail.run_id"}, "InputTemplate": '{"run": <run>}'}
    path = extended_template(
        tmp_path,
        {"echo": ECHO_HANDLER},
        {
            "TrainFunction": _echo("train", log, validated),
            "AuditFunction": _echo("audit", log, {"source": [{"prefix": "mlops."}]}),
            "ShapedFunction": _echo("shaped", log, validated, InputTransformer=shaping),
        },
    )
    with local_cloud(path, log_stream=io.StringIO()) as cloud:
        yield cloud, log


def _calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _put(cloud: LocalCloud, detail_type: str, detail: dict[str, Any]) -> None:
    cloud.session.client("events").put_events(
        Entries=[
            {
                "Source": "mlops.bundle",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": cloud.stack.outputs["EventBusName"],
            }
        ]
    )


def test_an_event_matching_several_rules_reaches_each_target_once(bus: tuple[LocalCloud, Path]) -> None:
    cloud, log = bus

    _put(cloud, "DatasetValidated", {"run_id": "r-1"})
    cloud.settle()

    calls = _calls(log)
    assert sorted(c["function"] for c in calls) == ["audit", "shaped", "train"]
    shaped = next(c for c in calls if c["function"] == "shaped")
    assert shaped["event"] == {"run": "r-1"}  # the rule's InputTransformer shaped the payload


def test_an_event_no_rule_matches_reaches_nobody_but_the_rules_that_do(bus: tuple[LocalCloud, Path]) -> None:
    cloud, log = bus

    _put(cloud, "DatasetRejected", {"run_id": "r-2"})
    cloud.settle()

    assert [c["function"] for c in _calls(log)] == ["audit"]


def test_a_handler_that_runs_past_its_timeout_fails_and_is_retried(bus: tuple[LocalCloud, Path]) -> None:
    cloud, _log = bus
    train = cloud.stack.function("TrainFunction")
    attempts: list[str] = []
    cloud.runtime.on_invocation = lambda invocation: attempts.append(str(invocation.error))

    with pytest.raises(FunctionTimeout, match="Task timed out after 1 seconds"):
        cloud.runtime.invoke(train, {"detail": {"sleep": 1.1}})

    assert attempts == ["FunctionTimeout: Task timed out after 1 seconds"]

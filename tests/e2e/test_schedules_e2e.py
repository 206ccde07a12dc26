"""Schedules from the template and from EventBridge Scheduler fire on the local cloud's clock."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mlops_cli.local.cloud import LocalCloud, local_cloud

from .conftest import extended_template

TICK_HANDLER = """
import json, os

def lambda_handler(event, context):
    with open(os.environ["TICK_LOG"], "a") as log:
        log.write(json.dumps(event) + "\\n")
    return {"ok": True}
"""


@pytest.fixture
def ticking(tmp_path: Path) -> Iterator[tuple[LocalCloud, Path]]:
    """The bundle's template plus a function on rate(5 minutes), as a later stage will add."""
    log = tmp_path / "ticks.jsonl"
    path = extended_template(
        tmp_path,
        {"tick": TICK_HANDLER},
        {
            "TickFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/tick/",
                    "Handler": "app.lambda_handler",
                    "Environment": {"Variables": {"TICK_LOG": str(log)}},
                    "Events": {"Every5": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}},
                },
            }
        },
    )
    with local_cloud(path, log_stream=io.StringIO()) as cloud:
        yield cloud, log


def _ticks(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_schedule_rule_fires_as_the_clock_advances_and_not_before(ticking: tuple[LocalCloud, Path]) -> None:
    cloud, log = ticking

    cloud.advance(4 * 60)
    assert _ticks(log) == []

    cloud.advance(7 * 60)

    ticks = _ticks(log)
    assert len(ticks) == 2
    assert {t["detail-type"] for t in ticks} == {"Scheduled Event"}
    assert {t["source"] for t in ticks} == {"aws.events"}


def test_a_one_time_scheduler_schedule_fires_once_then_deletes_itself(
    ticking: tuple[LocalCloud, Path],
) -> None:
    cloud, log = ticking
    scheduler = cloud.session.client("scheduler")
    at = (cloud.clock.now() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduler.create_schedule(
        Name="promote-step-1",
        ScheduleExpression=f"at({at})",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": cloud.stack.function("TickFunction").arn,
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps({"step": 1}),
        },
    )

    cloud.advance(60)
    assert {"step": 1} not in _ticks(log)
    cloud.advance(90)
    cloud.advance(10 * 60)

    assert _ticks(log).count({"step": 1}) == 1
    names = [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
    assert "promote-step-1" not in names
    assert names == ["mlops-local-drift-check"]  # the template's recurring schedule stays

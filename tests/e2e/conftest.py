"""The whole bundle in the local cloud: template.yaml deployed into moto, events routed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_cli.local.cloud import TEMPLATE, LocalCloud, local_cloud
from mlops_cli.local.function_urls import url_event
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


BUNDLE_EVENTS = {"source": ["mlops.bundle"]}


def listen(cloud: LocalCloud, name: str = "consumer", bus: str | None = None, pattern: Any = None) -> str:
    """A consumer of a bus, as a user's own stack would add one: a rule into a queue; its URL.

    By default every event the bundle publishes on its own bus.
    """
    sqs, events = cloud.session.client("sqs"), cloud.session.client("events")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = bus or cloud.stack.outputs["EventBusName"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern or BUNDLE_EVENTS))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def drain(cloud: LocalCloud, url: str) -> list[dict[str, Any]]:
    """Every message of a queue, read and deleted, as JSON bodies in the order read."""
    sqs = cloud.session.client("sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def live_alias(cloud: LocalCloud) -> tuple[str, dict[str, float]]:
    """predict's live alias: its version and the routing weights of any other."""
    alias = cloud.session.client("lambda").get_alias(
        FunctionName=cloud.stack.outputs["PredictFunctionName"], Name="live"
    )
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


CHURN_ROW = {
    "tenure_months": 12,
    "monthly_charges": 49.5,
    "plan": "plus",
    "support_tickets": 1,
    "autopay": True,
}


def predict_live(cloud: LocalCloud) -> dict[str, Any]:
    """One churn instance POSTed to predict's function URL, served by the live alias: the response."""
    predict = cloud.stack.function("PredictFunction")
    body = json.dumps({"instances": [CHURN_ROW]}).encode()
    event = url_event("POST", "/predict", {"content-type": "application/json"}, body, predict)
    response: dict[str, Any] = cloud.runtime.invoke(predict, event, "live")
    return response


class Terminal:
    """A console that records what a command printed, wide enough that tables never wrap."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.console = Console(file=self.buffer, width=300, highlight=False, color_system=None)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

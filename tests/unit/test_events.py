"""Event details: every sample parses with its model, and the published schemas are current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    S3EventNotificationEventBridgeModel,
)
from pydantic import ValidationError

from mlops_cli.schemas import render, schema_file, stale_files
from mlops_core.events import EVENT_DETAILS, EVENT_SOURCE, DatasetRejected, EventBridgePublisher, PublishError

from ..conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "infra" / "events" / "samples"
DETAILS = {d.detail_type: d for d in EVENT_DETAILS}


@pytest.mark.parametrize("detail", EVENT_DETAILS, ids=lambda d: d.detail_type)
def test_every_event_has_a_sample_that_its_model_parses(detail: type) -> None:
    event = json.loads((SAMPLES / f"{detail.detail_type}.json").read_text())

    envelope = parse(event=event, model=EventBridgeModel)
    parsed = detail.model_validate(envelope.detail)

    assert envelope.source == EVENT_SOURCE
    assert envelope.detail_type == detail.detail_type
    assert parsed.schema_version == "1"


def test_the_s3_sample_is_the_event_shape_the_function_parses() -> None:
    event = json.loads((SAMPLES / "validate_dataset.object-created.json").read_text())

    parsed = parse(event=event, model=S3EventNotificationEventBridgeModel)

    assert parsed.detail.object.key.startswith("incoming/")
    assert parsed.detail.object.version_id


def test_committed_schemas_match_the_models() -> None:
    assert stale_files() == [], "run `make schemas` and commit infra/events/schemas/"


def test_a_schema_goes_stale_when_its_model_changes() -> None:
    class Changed(DatasetRejected):
        new_field: int = 0

    Changed.detail_type = "DatasetRejected"

    assert schema_file(Changed) == schema_file(DatasetRejected)
    assert render(Changed) != schema_file(DatasetRejected).read_text()


def test_details_refuse_unknown_fields() -> None:
    sample = json.loads((SAMPLES / "DatasetRejected.json").read_text())["detail"]
    sample["surprise"] = 1

    with pytest.raises(ValidationError, match="surprise"):
        DatasetRejected.model_validate(sample)


class _FakeEvents:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[dict[str, object]]] = []
        self.fail = fail

    def put_events(self, Entries: list[dict[str, object]]) -> dict[str, object]:
        self.calls.append(Entries)
        if self.fail:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}] * len(Entries)}


def _rejected(run: int) -> DatasetRejected:
    sample = json.loads((SAMPLES / "DatasetRejected.json").read_text())["detail"]
    return DatasetRejected.model_validate({**sample, "run_id": f"run-{run}"})


def test_the_publisher_batches_ten_entries_a_call_on_the_named_bus() -> None:
    client = _FakeEvents()

    EventBridgePublisher(client, "bus-1").publish([_rejected(i) for i in range(23)])

    assert [len(call) for call in client.calls] == [10, 10, 3]
    entry = client.calls[0][0]
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        EVENT_SOURCE,
        "DatasetRejected",
        "bus-1",
    )
    assert json.loads(str(entry["Detail"]))["run_id"] == "run-0"


def test_a_partial_failure_raises_so_the_invocation_is_retried() -> None:
    with pytest.raises(PublishError, match="refused 1 event"):
        EventBridgePublisher(_FakeEvents(fail=True), "bus-1").publish([_rejected(1)])


def test_sample_files_exist_only_for_known_events_and_functions() -> None:
    functions = {p.name for p in (REPO_ROOT / "functions").iterdir() if p.is_dir()}
    known_events = {f"{name}.json" for name in DETAILS}

    for sample in Path(SAMPLES).glob("*.json"):
        assert sample.name in known_events or sample.name.split(".", 1)[0] in functions, sample.name

"""An upload flows through the template's own rule to validate_dataset, and on to the bus."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import TEMPLATE, LocalCloud, local_cloud
from mlops_cli.local.sam_template import load_source_template
from mlops_cli.sample_data import churn_table, write_csv

from ..conftest import REPO_ROOT
from .conftest import drain, listen

CHURN_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"


def _csv(tmp_path: Path, rows: int = 200) -> bytes:
    return write_csv(churn_table(rows), tmp_path / "churn.csv").read_bytes()


def _keys(cloud: LocalCloud, prefix: str) -> list[str]:
    listing = cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_an_upload_reaches_validate_dataset_through_the_templates_rule(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    consumer = listen(cloud)
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
    cloud.s3.put_object(Bucket=cloud.bucket, Key="incoming/churn/2026-11.csv", Body=_csv(tmp_path))

    cloud.settle()

    validate = cloud.stack.function("ValidateDatasetFunction").arn
    [delivery] = [d for d in cloud.router.deliveries if d.target_arn == validate]
    assert delivery.ok
    [validated] = _keys(cloud, "validated/churn/")
    assert validated.endswith("/2026-11.csv")
    assert len(_keys(cloud, "reports/validation/churn/")) == 1
    [event] = [e for e in drain(cloud, consumer) if e["detail-type"].startswith("Dataset")]
    assert event["detail-type"] == "DatasetValidated"
    assert event["detail"]["rows"] == 200


def test_a_bad_upload_is_quarantined_and_the_contract_upload_triggers_nothing(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
    cloud.s3.put_object(Bucket=cloud.bucket, Key="incoming/churn/bad.csv", Body=b"customer_id\nC1\n")

    cloud.settle()

    assert len(cloud.router.deliveries) == 1  # the contract under contracts/ matched no rule
    assert len(_keys(cloud, "quarantine/churn/")) == 1
    assert _keys(cloud, "validated/") == []


def test_the_functions_own_outputs_and_empty_objects_trigger_nothing(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
    cloud.s3.put_object(Bucket=cloud.bucket, Key="incoming/churn/", Body=b"")  # a folder marker
    cloud.s3.put_object(Bucket=cloud.bucket, Key="validated/churn/x/data.csv", Body=_csv(tmp_path))

    cloud.settle()

    assert cloud.router.deliveries == []


def test_a_raising_handler_is_retried_twice_then_lands_in_the_on_failure_queue(
    cloud: LocalCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = cloud.stack.function("ValidateDatasetFunction")
    attempts: list[str] = []

    def broken(event: dict[str, Any], context: Any) -> None:
        attempts.append(context.aws_request_id)
        raise RuntimeError("simulated outage")

    monkeypatch.setitem(cloud.runtime._handlers, f"{function.logical_id}:$LATEST", broken)
    cloud.s3.put_object(Bucket=cloud.bucket, Key="incoming/churn/x.csv", Body=_csv(tmp_path))

    cloud.settle()

    assert len(attempts) == 3  # the first try and EventInvokeConfig's two retries
    queue = cloud.stack.outputs["ValidateDatasetFailureQueueUrl"]
    [record] = drain(cloud, queue)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorMessage"] == "simulated outage"
    assert record["requestPayload"]["detail"]["object"]["key"] == "incoming/churn/x.csv"


def test_routing_follows_the_template_a_changed_pattern_changes_what_is_delivered(
    tmp_path: Path, function_logs: io.StringIO
) -> None:
    source = load_source_template(TEMPLATE)
    changed = copy.deepcopy(source)
    events = changed["Resources"]["ValidateDatasetFunction"]["Properties"]["Events"]
    events["ObjectCreated"]["Properties"]["Pattern"]["detail"]["object"]["key"] = [{"prefix": "landing/"}]
    template = tmp_path / "template.yaml"
    template.write_text(json.dumps(changed))
    for folder in ("functions", "layers"):
        (tmp_path / folder).symlink_to(REPO_ROOT / folder)

    with local_cloud(template, log_stream=function_logs) as cloud:
        push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
        cloud.s3.put_object(Bucket=cloud.bucket, Key="incoming/churn/a.csv", Body=_csv(tmp_path))
        cloud.settle()
        assert cloud.router.deliveries == []

        cloud.s3.put_object(Bucket=cloud.bucket, Key="landing/churn/a.csv", Body=_csv(tmp_path))
        cloud.settle()
        assert len(cloud.router.deliveries) == 1


def test_local_invoke_runs_a_function_with_a_sample_event_like_sam_local_invoke(cloud: LocalCloud) -> None:
    event = json.loads((REPO_ROOT / "infra/events/samples/validate_dataset.object-created.json").read_text())

    result = cloud.invoke("ValidateDatasetFunction", event)

    assert result["ignored"] is True  # the sample names another bucket than the local stack's


def test_a_target_that_cannot_be_delivered_to_lands_in_the_rules_dead_letter_queue(cloud: LocalCloud) -> None:
    events, sqs = cloud.session.client("events"), cloud.session.client("sqs")
    url = sqs.create_queue(QueueName="orphan-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = cloud.stack.outputs["EventBusName"]
    events.put_rule(Name="orphan", EventBusName=bus, EventPattern=json.dumps({"source": ["mlops.bundle"]}))
    events.put_targets(
        Rule="orphan",
        EventBusName=bus,
        Targets=[
            {
                "Id": "gone",
                "Arn": "arn:aws:lambda:eu-west-1:123456789012:function:deleted-function",
                "DeadLetterConfig": {"Arn": dlq},
            }
        ],
    )

    events.put_events(
        Entries=[
            {"Source": "mlops.bundle", "DetailType": "DatasetValidated", "Detail": "{}", "EventBusName": bus}
        ]
    )
    cloud.settle()

    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"]).get("Messages", [])
    assert json.loads(message["Body"])["detail-type"] == "DatasetValidated"
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "ResourceNotFoundException"
    assert [d.ok for d in cloud.router.deliveries if d.rule == "orphan"] == [False]

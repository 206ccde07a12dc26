"""Failure-queue messages read in the shapes AWS sends them, and the replay loop on a fake queue."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_cli.failures import (
    FailedDelivery,
    FailureKind,
    InvocationRefused,
    QueueMessage,
    ReplayStatus,
    UnreadableMessage,
    lambda_invoker,
    parse_failure,
    peek_queue,
    replay_queue,
)
from mlops_cli.main import main

from ..conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "infra" / "events" / "samples" / "failures"
VALIDATE_ARN = (
    "arn:aws:lambda:eu-west-1:123456789012:function:mlops-bundle-dev-ValidateDatasetFunction-a1B2c3D4e5F6"
)


def sqs_message(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.sqs-message.json").read_text())
    return loaded


def message(name: str, message_id: str = "m-1", **body_changes: Any) -> QueueMessage:
    raw = sqs_message(name)
    raw["MessageId"] = message_id
    if body_changes:
        body = json.loads(raw["Body"])
        body.update(body_changes)
        raw["Body"] = json.dumps(body)
    return QueueMessage.from_sqs(raw)


def garbage(message_id: str) -> QueueMessage:
    return QueueMessage(message_id=message_id, receipt_handle=f"rh-{message_id}", body="not json at all")


# --- reading each shape -------------------------------------------------------------------------


def test_lambdas_on_failure_record_names_the_function_without_qualifier_and_keeps_the_request() -> None:
    raw = sqs_message("lambda-on-failure")

    delivery = parse_failure(QueueMessage.from_sqs(raw))

    assert delivery.kind == FailureKind.LAMBDA_ON_FAILURE
    assert delivery.target_arn == VALIDATE_ARN
    assert delivery.qualifier is None  # executedVersion $LATEST: the unqualified function
    assert delivery.payload == json.loads(raw["Body"])["requestPayload"]
    assert delivery.condition == "RetriesExhausted"
    assert delivery.attempts == 3
    assert delivery.error_type == "IdempotencyPersistenceLayerError"
    assert delivery.error_message is not None and "ResourceNotFoundException" in delivery.error_message
    assert delivery.failed_at == datetime(2026, 11, 2, 9, 31, 12, 118000, tzinfo=UTC)
    assert delivery.what() == "Object Created incoming/churn/churn+2026-11.csv"  # as S3 encodes it
    assert delivery.replay_refusal() is None


def test_a_numbered_executed_version_is_the_qualifier_replayed() -> None:
    raw = sqs_message("lambda-on-failure")
    body = json.loads(raw["Body"])
    body["requestContext"]["functionArn"] = f"{VALIDATE_ARN}:live"
    body["responseContext"]["executedVersion"] = "7"
    raw["Body"] = json.dumps(body)

    delivery = parse_failure(QueueMessage.from_sqs(raw))

    assert (delivery.function_arn, delivery.invoke_qualifier) == (VALIDATE_ARN, "7")


def test_an_event_age_exceeded_record_without_a_response_is_still_replayable() -> None:
    raw = sqs_message("lambda-on-failure")
    body = json.loads(raw["Body"])
    body["requestContext"]["condition"] = "EventAgeExceeded"
    del body["responseContext"], body["responsePayload"]
    raw["Body"] = json.dumps(body)

    delivery = parse_failure(QueueMessage.from_sqs(raw))

    assert (delivery.condition, delivery.error_type, delivery.qualifier) == ("EventAgeExceeded", None, None)
    assert delivery.replay_refusal() is None


def test_an_eventbridge_dead_letter_is_the_event_for_its_target_with_the_rule_and_error() -> None:
    raw = sqs_message("eventbridge-dlq")

    delivery = parse_failure(QueueMessage.from_sqs(raw))

    assert delivery.kind == FailureKind.RULE_DEAD_LETTER
    assert delivery.target_name == "mlops-bundle-dev-TrainModelFunction-q9W8e7R6t5Y4"
    assert delivery.origin_name == "mlops-bundle-dev-TrainModelFunctionDatasetValidated-1X2Y3Z"
    assert delivery.payload == json.loads(raw["Body"])
    assert (delivery.error_type, delivery.error_message) == (
        "SDK_CLIENT_ERROR",
        "Unable to invoke Lambda function: Rate exceeded",
    )
    assert (delivery.condition, delivery.attempts) == ("MaximumEventAgeInSeconds", 13)
    assert delivery.failed_at == datetime.fromtimestamp(1793611872.118, UTC)  # SentTimestamp
    assert delivery.what() == "DatasetValidated"


def test_a_scheduler_dead_letter_is_the_targets_input_with_the_schedule_and_error() -> None:
    delivery = parse_failure(QueueMessage.from_sqs(sqs_message("scheduler-dlq")))

    assert delivery.kind == FailureKind.SCHEDULE_DEAD_LETTER
    assert delivery.payload == {"scheduled_time": "2026-11-02T10:00:00Z"}
    assert delivery.origin_name == "mlops-bundle-dev-drift-check"
    assert delivery.target_name == "mlops-bundle-dev-CheckDriftFunction-z1X2c3V4b5N6"
    assert (delivery.error_type, delivery.condition, delivery.attempts) == (
        "AWS.Lambda.TooManyRequestsException",
        "MaximumRetryAttempts",
        4,
    )
    assert delivery.replay_refusal() is None


def test_a_truncated_scheduler_payload_is_read_but_refused_for_replay() -> None:
    raw = sqs_message("scheduler-dlq")
    raw["MessageAttributes"]["IS_PAYLOAD_TRUNCATED"]["StringValue"] = "true"
    raw["Body"] = '{"scheduled_ti'

    delivery = parse_failure(QueueMessage.from_sqs(raw))

    assert delivery.replay_refusal() == (
        "Scheduler truncated its payload (IS_PAYLOAD_TRUNCATED): the original input is not here"
    )


def test_a_dead_letter_for_a_target_that_is_not_a_function_is_refused_for_replay() -> None:
    raw = sqs_message("eventbridge-dlq")
    raw["MessageAttributes"]["TARGET_ARN"]["StringValue"] = "arn:aws:sqs:eu-west-1:123456789012:consumer"

    delivery = parse_failure(QueueMessage.from_sqs(raw))

    assert delivery.replay_refusal() == (
        "its target arn:aws:sqs:eu-west-1:123456789012:consumer is not a Lambda function: "
        "replay supports Lambda targets"
    )


@pytest.mark.parametrize(
    ("body", "attributes", "reason"),
    [
        ("not json", {}, "neither a Lambda invocation record"),
        (
            '{"detail-type": "DatasetValidated"}',
            {"ERROR_CODE": "X"},
            "no TARGET_ARN with RULE_ARN or SCHEDULE_ARN",
        ),
        (
            '{"requestContext": {"condition": "RetriesExhausted"}}',
            {},
            "requestContext.functionArn: Field required",
        ),
        (
            '{"version": "1.0", "requestContext": {"functionArn": "arn:aws:lambda:eu-west-1:1:function:f"}}',
            {},
            "requestPayload: Field required",
        ),
        (
            json.dumps(
                {
                    "version": "1.0",
                    "requestContext": {"functionArn": "arn:aws:sqs:eu-west-1:1:q"},
                    "requestPayload": {},
                }
            ),
            {},
            "naming 'arn:aws:sqs:eu-west-1:1:q', not a function",
        ),
        ("<xml/>", {"RULE_ARN": "arn:aws:events:r", "TARGET_ARN": "arn:aws:lambda:x"}, "body is not JSON"),
    ],
    ids=["not-json", "no-target", "no-function", "no-payload", "not-a-function", "dead-letter-not-json"],
)
def test_a_message_of_no_known_shape_is_unreadable_with_the_reason(
    body: str, attributes: dict[str, str], reason: str
) -> None:
    unknown = QueueMessage(message_id="m", receipt_handle="rh", body=body, attributes=attributes)

    with pytest.raises(UnreadableMessage, match=reason.replace("(", r"\(").replace("'", ".")):
        parse_failure(unknown)


# --- the replay loop on a fake queue -------------------------------------------------------------


@dataclass
class FakeQueue:
    """An SQS queue in memory: received messages are hidden until deleted or released."""

    messages: list[QueueMessage]
    hidden: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    def receive(self, count: int) -> list[QueueMessage]:
        visible = [m for m in self.messages if m.message_id not in self.hidden][:count]
        self.hidden.update(m.message_id for m in visible)
        return visible

    def delete(self, message: QueueMessage) -> None:
        self.messages = [m for m in self.messages if m.message_id != message.message_id]
        self.hidden.discard(message.message_id)
        self.deleted.append(message.message_id)

    def release(self, message: QueueMessage) -> None:
        self.hidden.discard(message.message_id)
        self.released.append(message.message_id)

    @property
    def ids(self) -> list[str]:
        return [m.message_id for m in self.messages]


@dataclass
class RecordingInvoker:
    refuse: set[str] = field(default_factory=set)
    invoked: list[FailedDelivery] = field(default_factory=list)

    def __call__(self, delivery: FailedDelivery) -> None:
        if delivery.message_id in self.refuse:
            raise RuntimeError("TooManyRequestsException: Rate exceeded")
        self.invoked.append(delivery)


def test_replay_invokes_each_delivery_once_then_deletes_it() -> None:
    queue = FakeQueue([message("lambda-on-failure", "a"), message("eventbridge-dlq", "b")])
    invoker = RecordingInvoker()

    outcomes = replay_queue(queue, invoker)

    assert [(o.message_id, o.status) for o in outcomes] == [
        ("a", ReplayStatus.REPLAYED),
        ("b", ReplayStatus.REPLAYED),
    ]
    assert [(d.function_arn, d.invoke_qualifier) for d in invoker.invoked] == [
        (VALIDATE_ARN, None),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:mlops-bundle-dev-TrainModelFunction-q9W8e7R6t5Y4",
            None,
        ),
    ]
    assert queue.ids == []


def test_an_unreadable_message_stays_in_the_queue_visible_again_and_the_rest_is_replayed() -> None:
    queue = FakeQueue([garbage("bad"), message("lambda-on-failure", "good")])
    invoker = RecordingInvoker()

    outcomes = replay_queue(queue, invoker)

    [kept, replayed] = outcomes
    assert (kept.status, kept.delivery) == (ReplayStatus.KEPT, None)
    assert kept.detail.startswith("unreadable: neither a Lambda invocation record")
    assert replayed.status == ReplayStatus.REPLAYED
    assert queue.ids == ["bad"] and queue.deleted == ["good"]
    assert queue.hidden == set()  # released: another consumer (or a person) sees it now


def test_a_refused_invocation_keeps_the_message_and_says_why() -> None:
    queue = FakeQueue([message("lambda-on-failure", "a")])

    [outcome] = replay_queue(queue, RecordingInvoker(refuse={"a"}))

    assert outcome.status == ReplayStatus.INVOKE_FAILED
    assert outcome.detail == "RuntimeError: TooManyRequestsException: Rate exceeded"
    assert queue.ids == ["a"] and queue.hidden == set()


def test_a_dry_run_invokes_and_deletes_nothing() -> None:
    queue = FakeQueue([message("lambda-on-failure", "a"), garbage("bad")])
    invoker = RecordingInvoker()

    outcomes = replay_queue(queue, invoker, dry_run=True)

    assert [o.status for o in outcomes] == [ReplayStatus.WOULD_REPLAY, ReplayStatus.KEPT]
    assert invoker.invoked == [] and queue.deleted == []
    assert queue.ids == ["a", "bad"] and queue.hidden == set()


def test_max_replays_that_many_and_leaves_the_rest_untouched() -> None:
    queue = FakeQueue([message("lambda-on-failure", f"m{i}") for i in range(25)])

    outcomes = replay_queue(queue, RecordingInvoker(), limit=12)

    assert len(outcomes) == 12
    assert queue.ids == [f"m{i}" for i in range(12, 25)]
    assert queue.hidden == set()


def test_peek_reads_every_message_once_and_makes_each_visible_again() -> None:
    messages = [message("scheduler-dlq", f"m{i}") for i in range(13)]
    queue = FakeQueue(copy.copy(messages))

    outcomes = peek_queue(queue)

    assert [o.message_id for o in outcomes] == [m.message_id for m in messages]
    assert all(o.status == ReplayStatus.WOULD_REPLAY for o in outcomes)
    assert queue.deleted == [] and queue.hidden == set()


# --- the invoker and the command line ------------------------------------------------------------


@dataclass
class FakeLambda:
    status: int = 202
    requests: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"StatusCode": self.status}


def test_the_lambda_invoker_invokes_asynchronously_with_the_payload_and_the_numbered_version() -> None:
    raw = sqs_message("lambda-on-failure")
    body = json.loads(raw["Body"])
    body["responseContext"]["executedVersion"] = "4"
    raw["Body"] = json.dumps(body)
    delivery = parse_failure(QueueMessage.from_sqs(raw))
    client = FakeLambda()

    lambda_invoker(client)(delivery)

    [request] = client.requests
    assert request["FunctionName"] == VALIDATE_ARN
    assert (request["InvocationType"], request["Qualifier"]) == ("Event", "4")
    assert json.loads(request["Payload"]) == body["requestPayload"]


def test_an_invocation_lambda_does_not_accept_raises() -> None:
    delivery = parse_failure(message("eventbridge-dlq"))

    with pytest.raises(InvocationRefused, match="Lambda answered 200 instead of 202"):
        lambda_invoker(FakeLambda(status=200))(delivery)


def test_replay_without_a_queue_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["failures", "replay", "--dry-run"])

    assert exit_.value.code == 2
    assert "the following arguments are required: --queue" in capsys.readouterr().err

"""What ended in the stack's failure queues: each message read as a :class:`FailedDelivery`, and replayed.

Three kinds of message end in those queues, each in the shape AWS documents:

- **Lambda's invocation record**, sent to a function's EventInvokeConfig OnFailure queue
  after the last retry: ``requestContext`` (``functionArn``, ``condition``:
  RetriesExhausted or EventAgeExceeded, ``approximateInvokeCount``), ``requestPayload``
  (the event the function was given), ``responseContext`` (``executedVersion``) and
  ``responsePayload`` (``errorType``, ``errorMessage``).
- **EventBridge's dead letter**, an event a rule could not deliver: the event as the body,
  and the message attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
  EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS.
- **EventBridge Scheduler's dead letter**, a schedule that could not invoke its target: the
  target's input as the body, and SCHEDULE_ARN, TARGET_ARN, SCHEDULED_TIME, EXECUTION_ID,
  ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS and
  IS_PAYLOAD_TRUNCATED.

Replaying one invokes its Lambda function asynchronously with the original payload, and
deletes the message only once the invocation was accepted. A message that cannot be read,
or cannot be replayed (a target that is not a Lambda function, a truncated payload), stays
in the queue and is reported: nothing is deleted that was not handed on. The queue and the
invoker are small ports, so tests run the loop on fakes and on the local cloud.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

#: SQS hands out at most this many messages per receive.
RECEIVE_BATCH = 10
#: How long a message received by a run stays hidden from other consumers: replaying one is
#: one asynchronous Invoke, so this is ample; messages kept are made visible again at the end.
HOLD_SECONDS = 300
#: Long polling asks every SQS server, so a short queue is not reported empty by mistake.
WAIT_SECONDS = 1
_FUNCTION_ARN_PARTS = 7  # arn:aws:lambda:REGION:ACCOUNT:function:NAME


class FailureKind(StrEnum):
    LAMBDA_ON_FAILURE = "Lambda OnFailure"
    RULE_DEAD_LETTER = "EventBridge rule DLQ"
    SCHEDULE_DEAD_LETTER = "Scheduler DLQ"


class UnreadableMessage(ValueError):
    """A message that is none of the three shapes, or whose payload cannot be recovered."""


class QueueMessage(BaseModel):
    """The parts of an SQS message this module reads."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    receipt_handle: str
    body: str
    #: String message attributes (EventBridge's and Scheduler's error details), by name.
    attributes: dict[str, str] = Field(default_factory=dict)
    sent_at: datetime | None = None

    @classmethod
    def from_sqs(cls, message: dict[str, Any]) -> QueueMessage:
        """From one entry of ReceiveMessage's ``Messages``."""
        sent = message.get("Attributes", {}).get("SentTimestamp")
        return cls(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            body=str(message.get("Body", "")),
            attributes={
                str(name): str(value["StringValue"])
                for name, value in message.get("MessageAttributes", {}).items()
                if "StringValue" in value
            },
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        )


class FailedDelivery(BaseModel):
    """One failed delivery: which function should have run, with what, and why it did not."""

    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    message_id: str
    #: The target as recorded: a function ARN without qualifier for Lambda's record, else TARGET_ARN.
    target_arn: str
    #: The version to invoke (Lambda's record: executedVersion when it is a number).
    qualifier: str | None = None
    #: What the target was given, and is given again on replay.
    payload: JsonValue = None
    failed_at: datetime | None = None
    #: The rule or schedule that delivered it (dead letters only).
    origin_arn: str | None = None
    #: RetriesExhausted / EventAgeExceeded (Lambda), MaximumRetryAttempts / MaximumEventAgeInSeconds.
    condition: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    attempts: int | None = None
    payload_truncated: bool = False

    @property
    def function_arn(self) -> str:
        """The target's function ARN without a qualifier (the target ARN itself if it is no function)."""
        return split_function_arn(self.target_arn)[0]

    @property
    def invoke_qualifier(self) -> str | None:
        """The qualifier to invoke: the recorded one, else one the target ARN carries."""
        return self.qualifier or split_function_arn(self.target_arn)[1]

    @property
    def target_name(self) -> str:
        return self.function_arn.rsplit(":", 1)[-1] if is_function_arn(self.target_arn) else self.target_arn

    @property
    def origin_name(self) -> str:
        """The rule's or schedule's name, '-' for Lambda's own record."""
        return self.origin_arn.rsplit("/", 1)[-1] if self.origin_arn else "-"

    def replay_refusal(self) -> str | None:
        """Why this delivery cannot be replayed as it is, or None when it can."""
        if not is_function_arn(self.target_arn):
            return f"its target {self.target_arn} is not a Lambda function: replay supports Lambda targets"
        if self.payload_truncated:
            return "Scheduler truncated its payload (IS_PAYLOAD_TRUNCATED): the original input is not here"
        return None

    def what(self) -> str:
        """A short description of the payload: the event's type and object, or the start of its JSON."""
        payload = self.payload
        if isinstance(payload, dict) and "detail-type" in payload:
            detail = payload.get("detail")
            uploaded = detail.get("object") if isinstance(detail, dict) else None
            key = uploaded.get("key") if isinstance(uploaded, dict) else None
            return f"{payload['detail-type']}" + (f" {key}" if key else "")
        text = json.dumps(payload, sort_keys=True)
        return text if len(text) <= 60 else text[:57] + "..."


def is_function_arn(arn: str) -> bool:
    parts = arn.split(":")
    return len(parts) >= _FUNCTION_ARN_PARTS and parts[2] == "lambda" and parts[5] == "function"


def split_function_arn(arn: str) -> tuple[str, str | None]:
    """``(function ARN, qualifier or None)``; ``$LATEST`` is no qualifier. Other ARNs come back whole."""
    if not is_function_arn(arn):
        return arn, None
    parts = arn.split(":")
    qualifier = parts[_FUNCTION_ARN_PARTS] if len(parts) > _FUNCTION_ARN_PARTS else None
    return ":".join(parts[:_FUNCTION_ARN_PARTS]), None if qualifier in (None, "", "$LATEST") else qualifier


# --- reading a message ----------------------------------------------------------------------------


class _RequestContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    function_arn: str = Field(alias="functionArn")
    condition: str | None = None
    approximate_invoke_count: int | None = Field(default=None, alias="approximateInvokeCount")


class _ResponseContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    executed_version: str | None = Field(default=None, alias="executedVersion")
    function_error: str | None = Field(default=None, alias="functionError")


class InvocationRecord(BaseModel):
    """Lambda's record of an asynchronous invocation, as sent to an OnFailure destination."""

    model_config = ConfigDict(extra="ignore")

    version: str
    timestamp: datetime | None = None
    request_context: _RequestContext = Field(alias="requestContext")
    request_payload: JsonValue = Field(alias="requestPayload")
    response_context: _ResponseContext | None = Field(default=None, alias="responseContext")
    response_payload: JsonValue = Field(default=None, alias="responsePayload")


def parse_failure(message: QueueMessage) -> FailedDelivery:
    """Read one message of a failure queue; :class:`UnreadableMessage` says why it cannot be."""
    try:
        body: Any = json.loads(message.body)
    except ValueError:
        body = None
    attributes = message.attributes
    if isinstance(body, dict) and "requestContext" in body:
        return _from_invocation_record(message, body)
    if "TARGET_ARN" in attributes and ("SCHEDULE_ARN" in attributes or "RULE_ARN" in attributes):
        return _from_dead_letter(message, body)
    raise UnreadableMessage(
        "neither a Lambda invocation record (no requestContext in the body) nor an EventBridge or "
        "Scheduler dead letter (no TARGET_ARN with RULE_ARN or SCHEDULE_ARN attribute)"
    )


def _from_invocation_record(message: QueueMessage, body: dict[str, Any]) -> FailedDelivery:
    try:
        record = InvocationRecord.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)[:5]
        )
        raise UnreadableMessage(f"a Lambda invocation record, but not a usable one ({problems})") from error
    context = record.request_context
    if not is_function_arn(context.function_arn):
        raise UnreadableMessage(f"a Lambda invocation record naming {context.function_arn!r}, not a function")
    executed = record.response_context.executed_version if record.response_context else None
    response = record.response_payload if isinstance(record.response_payload, dict) else {}
    error_message = response.get("errorMessage")
    if error_message is None and isinstance(record.response_payload, str):
        error_message = record.response_payload
    return FailedDelivery(
        kind=FailureKind.LAMBDA_ON_FAILURE,
        message_id=message.message_id,
        target_arn=split_function_arn(context.function_arn)[0],
        qualifier=executed if executed and executed.isdigit() else None,
        payload=record.request_payload,
        failed_at=record.timestamp or message.sent_at,
        condition=context.condition,
        error_type=_text(response.get("errorType"))
        or (record.response_context.function_error if record.response_context else None),
        error_message=_text(error_message),
        attempts=context.approximate_invoke_count,
    )


def _from_dead_letter(message: QueueMessage, body: Any) -> FailedDelivery:
    attributes = message.attributes
    scheduled = "SCHEDULE_ARN" in attributes
    truncated = attributes.get("IS_PAYLOAD_TRUNCATED", "false").lower() == "true"
    if body is None and not truncated:
        raise UnreadableMessage(
            "a dead letter whose body is not JSON: a Lambda function takes JSON only; replay it by hand"
        )
    retries = attributes.get("RETRY_ATTEMPTS", "")
    return FailedDelivery(
        kind=FailureKind.SCHEDULE_DEAD_LETTER if scheduled else FailureKind.RULE_DEAD_LETTER,
        message_id=message.message_id,
        target_arn=attributes["TARGET_ARN"],
        payload=body,
        failed_at=message.sent_at,
        origin_arn=attributes.get("SCHEDULE_ARN" if scheduled else "RULE_ARN"),
        condition=attributes.get("EXHAUSTED_RETRY_CONDITION"),
        error_type=attributes.get("ERROR_CODE"),
        error_message=attributes.get("ERROR_MESSAGE"),
        # RETRY_ATTEMPTS counts the retries; the first attempt comes before them.
        attempts=int(retries) + 1 if retries.isdigit() else None,
        payload_truncated=truncated,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- the ports ----------------------------------------------------------------------------------------


class FailureQueue(Protocol):
    """A failure queue as the replay sees it."""

    def receive(self, count: int) -> list[QueueMessage]:
        """Up to ``count`` messages, hidden from other consumers while this run holds them."""
        ...

    def delete(self, message: QueueMessage) -> None: ...

    def release(self, message: QueueMessage) -> None:
        """Make a held message visible again now."""
        ...


#: Hands a delivery to its function asynchronously; raises when the invocation is not accepted.
Invoker = Callable[[FailedDelivery], None]


class InvocationRefused(RuntimeError):
    """Lambda did not accept the asynchronous invocation."""


@dataclass
class SqsFailureQueue:
    """:class:`FailureQueue` on an SQS queue (a boto3 SQS client and the queue's URL)."""

    sqs: Any
    url: str
    hold_seconds: int = HOLD_SECONDS
    wait_seconds: int = WAIT_SECONDS

    def receive(self, count: int) -> list[QueueMessage]:
        response = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(count, RECEIVE_BATCH)),
            VisibilityTimeout=self.hold_seconds,
            WaitTimeSeconds=self.wait_seconds,
            MessageAttributeNames=["All"],
            AttributeNames=["SentTimestamp"],
        )
        return [QueueMessage.from_sqs(m) for m in response.get("Messages", [])]

    def delete(self, message: QueueMessage) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def release(self, message: QueueMessage) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0
        )


def lambda_invoker(lambda_client: Any) -> Invoker:
    """Invoke through Lambda's API, asynchronously (InvocationType=Event): accepted means 202."""

    def invoke(delivery: FailedDelivery) -> None:
        request: dict[str, Any] = {
            "FunctionName": delivery.function_arn,
            "InvocationType": "Event",
            "Payload": json.dumps(delivery.payload).encode(),
        }
        if delivery.invoke_qualifier:
            request["Qualifier"] = delivery.invoke_qualifier
        status = int(lambda_client.invoke(**request).get("StatusCode", 0))
        if status != 202:
            raise InvocationRefused(f"Lambda answered {status} instead of 202 (accepted)")

    return invoke


# --- walking a queue ----------------------------------------------------------------------------------


class ReplayStatus(StrEnum):
    REPLAYED = "replayed"
    WOULD_REPLAY = "would replay"
    KEPT = "kept"
    INVOKE_FAILED = "invoke failed"
    NOT_DELETED = "replayed, not deleted"

    @property
    def ok(self) -> bool:
        return self in (ReplayStatus.REPLAYED, ReplayStatus.WOULD_REPLAY)


@dataclass(frozen=True)
class ReplayOutcome:
    """What became of one message: the delivery read from it (None if unreadable) and why."""

    message_id: str
    status: ReplayStatus
    delivery: FailedDelivery | None
    detail: str = ""


@dataclass
class _Walk:
    """Receives each message of the queue once, and releases what it holds when it ends."""

    queue: FailureQueue
    limit: int | None
    held: dict[str, QueueMessage] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def messages(self) -> Iterator[QueueMessage]:
        count = 0
        while self.limit is None or count < self.limit:
            wanted = RECEIVE_BATCH if self.limit is None else min(RECEIVE_BATCH, self.limit - count)
            batch = self.queue.receive(wanted)
            fresh = [m for m in batch if m.message_id not in self.seen]
            for message in batch:
                if message.message_id in self.seen:
                    # Held past its visibility timeout and received again: keep the newest handle.
                    self.held[message.message_id] = message
            if not fresh:
                return
            for message in fresh:
                self.seen.add(message.message_id)
                if self.limit is not None and count >= self.limit:
                    self.held[message.message_id] = message
                    continue
                count += 1
                yield message

    def hold(self, message: QueueMessage) -> None:
        self.held[message.message_id] = message

    def release_all(self) -> None:
        """Make every held message visible again (one that cannot be reappears after its timeout)."""
        for message in self.held.values():
            with suppress(Exception):
                self.queue.release(message)
        self.held.clear()


@contextmanager
def _walking(queue: FailureQueue, limit: int | None) -> Iterator[_Walk]:
    walk = _Walk(queue, limit)
    try:
        yield walk
    finally:
        walk.release_all()


def peek_queue(queue: FailureQueue, limit: int | None = None) -> list[ReplayOutcome]:
    """Read the queue's messages without deleting any: each is made visible again."""
    return replay_queue(queue, _never_invoked, limit=limit, dry_run=True)


def _never_invoked(delivery: FailedDelivery) -> None:
    raise AssertionError("a dry run invokes nothing")


def replay_queue(
    queue: FailureQueue, invoke: Invoker, *, limit: int | None = None, dry_run: bool = False
) -> list[ReplayOutcome]:
    """Replay up to ``limit`` messages (all when None); each outcome in the order received.

    A message is deleted only after ``invoke`` accepted its delivery. Unreadable messages,
    refusals and failed invocations stay in the queue (made visible again when the walk ends).
    ``dry_run`` reads and reports, and invokes and deletes nothing.
    """
    outcomes: list[ReplayOutcome] = []
    with _walking(queue, limit) as walk:
        for message in walk.messages():
            outcomes.append(_replay_one(walk, message, invoke, dry_run))
    return outcomes


def _replay_one(walk: _Walk, message: QueueMessage, invoke: Invoker, dry_run: bool) -> ReplayOutcome:
    try:
        delivery = parse_failure(message)
    except UnreadableMessage as problem:
        walk.hold(message)
        return ReplayOutcome(message.message_id, ReplayStatus.KEPT, None, f"unreadable: {problem}")
    refusal = delivery.replay_refusal()
    if refusal is not None:
        walk.hold(message)
        return ReplayOutcome(message.message_id, ReplayStatus.KEPT, delivery, refusal)
    if dry_run:
        walk.hold(message)
        return ReplayOutcome(
            message.message_id, ReplayStatus.WOULD_REPLAY, delivery, f"would invoke {delivery.target_name}"
        )
    try:
        invoke(delivery)
    except Exception as error:  # any refusal keeps the message and is reported
        walk.hold(message)
        return ReplayOutcome(
            message.message_id, ReplayStatus.INVOKE_FAILED, delivery, f"{type(error).__name__}: {error}"
        )
    try:
        walk.queue.delete(message)
    except Exception as error:  # reported: the message may be replayed a second time
        return ReplayOutcome(
            message.message_id,
            ReplayStatus.NOT_DELETED,
            delivery,
            f"invoked, but the message could not be deleted ({type(error).__name__}: {error}); it "
            "reappears and a later replay invokes it again (the functions are idempotent)",
        )
    return ReplayOutcome(
        message.message_id, ReplayStatus.REPLAYED, delivery, f"invoked {delivery.target_name}"
    )

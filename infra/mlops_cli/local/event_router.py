"""Route events to functions exactly as the deployed rules say, since moto's EventBridge does not.

moto delivers events to SQS targets (and logs, archives, other buses) but never invokes
a Lambda. So every bus gets a catch-all *tap* rule into an SQS queue; :meth:`EventRouter.pump`
drains the taps and, for each event, evaluates every rule of its bus with the
EventBridge pattern semantics of :mod:`event_patterns`, shapes the payload (Input,
InputPath, InputTransformer) and invokes each Lambda target asynchronously, once per
matching rule. All wiring is read back from moto: nothing is wired by hand.

The taps' queues are never read: :func:`taps_kept_in_memory` hands what moto sends them to
an in-process inbox, because moto's SQS scans a whole queue for every message it returns
(quadratic in a burst of hundreds of uploads).

moto quirks handled here: it hands each S3 notification to the rules of every bus, and
more than once (AWS sends it once, to the default bus), with one fixed event id; so S3
events are routed from the default bus only, once per distinct event body.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

from moto.events.models import Rule

from mlops_cli.local.event_patterns import matches
from mlops_cli.local.input_transformer import constant_input, input_path, transform
from mlops_cli.local.runtime import FunctionRuntime
from mlops_cli.local.stack import ACCOUNT_ID, DeployedStack

TAP_PREFIX = "mlops-local-tap"
#: Matches every event: every event has a source.
CATCH_ALL = {"source": [{"prefix": ""}]}
MAX_ROUNDS = 50


class TapInbox:
    """What moto delivered to the tap queues, by queue name, in order."""

    def __init__(self) -> None:
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def put(self, queue: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.setdefault(queue, []).append(event)

    def take(self, queue: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._events.pop(queue, [])


#: moto's backends are process-wide; so is the inbox of their taps.
TAP_INBOX = TapInbox()


@contextmanager
def taps_kept_in_memory(inbox: TapInbox = TAP_INBOX) -> Iterator[TapInbox]:
    """moto's delivery to a tap queue lands in ``inbox``, exactly as the queue would hold it."""
    original = Rule._send_to_sqs_queue

    def send(rule: Rule, resource_id: str, event: dict[str, Any], group_id: str | None = None) -> None:
        if not resource_id.startswith(TAP_PREFIX):
            original(rule, resource_id, event, group_id)
            return
        # What the queue would have held: moto writes "time" as ISO 8601 on its way into SQS.
        shaped = dict(event)
        if "time" in shaped:
            shaped["time"] = _iso_time(shaped["time"])
        inbox.put(resource_id, json.loads(json.dumps(shaped)))

    with patch.object(Rule, "_send_to_sqs_queue", send):
        yield inbox


def _iso_time(value: Any) -> Any:
    """moto keeps an event's time as epoch seconds and writes it ISO 8601 into SQS; so do we."""
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return value


@dataclass(frozen=True)
class Delivery:
    """One event delivered by one rule to one target, for the timeline and for tests."""

    bus: str
    rule: str
    target_arn: str
    detail_type: str
    ok: bool | None


@dataclass
class EventRouter:
    stack: DeployedStack
    session: Any
    runtime: FunctionRuntime
    on_delivery: Callable[[Delivery], None] | None = None
    #: Called as a delivery starts (ok is None then); on_delivery once it is done.
    on_dispatch: Callable[[Delivery], None] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    _taps: dict[str, str] = field(default_factory=dict)
    _seen_s3_events: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._events = self.session.client("events")
        self._sqs = self.session.client("sqs")

    # -- wiring -----------------------------------------------------------------------------
    def install_taps(self) -> None:
        """A catch-all rule into a queue on every bus, so the router sees every event once."""
        for bus in self._events.list_event_buses()["EventBuses"]:
            name = bus["Name"]
            if name in self._taps:
                continue
            queue = f"{TAP_PREFIX}-{_safe(name)}"[:80]
            url = self._sqs.create_queue(QueueName=queue)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self._events.put_rule(Name=TAP_PREFIX, EventBusName=name, EventPattern=json.dumps(CATCH_ALL))
            self._events.put_targets(Rule=TAP_PREFIX, EventBusName=name, Targets=[{"Id": "tap", "Arn": arn}])
            self._taps[name] = url

    # -- routing ----------------------------------------------------------------------------
    def pump(self, max_rounds: int = MAX_ROUNDS) -> int:
        """Deliver events until none are left (handlers may publish more). Returns how many."""
        delivered = 0
        for _ in range(max_rounds):
            events = self._drain()
            if not events:
                return delivered
            for bus, event in events:
                delivered += self.route(bus, event)
        raise RuntimeError(f"events still flowing after {max_rounds} rounds: is a rule feeding itself?")

    def route(self, bus: str, event: dict[str, Any]) -> int:
        """Evaluate every rule of ``bus`` against ``event`` and deliver to each matching target."""
        count = 0
        for rule in self._rules(bus):
            pattern = rule.get("EventPattern")
            if rule["Name"] == TAP_PREFIX or pattern is None or rule.get("State", "ENABLED") != "ENABLED":
                continue
            if not matches(pattern, event):
                continue
            for target in self._events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]:
                count += self.deliver(bus, rule, target, event)
        return count

    def deliver(
        self,
        bus: str,
        rule: dict[str, Any],
        target: dict[str, Any],
        event: dict[str, Any],
        *,
        moto_delivers: bool = True,
    ) -> int:
        """Deliver ``event`` by ``rule`` to ``target``. Unless moto delivered it itself (events it
        routed), SQS targets are sent to here too: scheduled events never pass through moto."""
        arn = str(target["Arn"])
        payload = _payload(target, event, rule)
        if ":sqs:" in arn and not moto_delivers:
            self.send_to_queue(arn, payload)
            return 1
        if ":lambda:" not in arn:
            return 0  # moto delivers to SQS, logs, buses and archives itself
        if self.on_dispatch is not None:
            self.on_dispatch(Delivery(bus, rule["Name"], arn, str(event.get("detail-type")), ok=None))
        function = self.stack.function_by_arn(arn)
        if function is None:
            self._dead_letter(rule, target, event, f"no function {arn} in the local stack")
            ok = False
        else:
            ok = self.runtime.invoke_async(function, payload)
        delivery = Delivery(bus, rule["Name"], arn, str(event.get("detail-type")), ok)
        self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return 1

    def send_to_queue(self, arn: str, payload: Any) -> None:
        url = self._sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
        body = payload if isinstance(payload, str) else json.dumps(payload)
        self._sqs.send_message(QueueUrl=url, MessageBody=body)

    def _dead_letter(
        self, rule: dict[str, Any], target: dict[str, Any], event: dict[str, Any], reason: str
    ) -> None:
        """A delivery EventBridge could not make goes to the target's DLQ, with AWS's attributes."""
        dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
        if not dead_letter:
            return
        url = self._sqs.get_queue_url(QueueName=str(dead_letter).rsplit(":", 1)[-1])["QueueUrl"]
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": "ResourceNotFoundException"},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": reason},
                "RULE_ARN": {"DataType": "String", "StringValue": str(rule.get("Arn"))},
                "TARGET_ARN": {"DataType": "String", "StringValue": str(target.get("Arn"))},
                "RETRY_ATTEMPTS": {"DataType": "String", "StringValue": "0"},
            },
        )

    def _rules(self, bus: str) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for page in self._events.get_paginator("list_rules").paginate(EventBusName=bus):
            rules.extend(page["Rules"])
        return rules

    def _drain(self) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        for bus, url in self._taps.items():
            for event in TAP_INBOX.take(url.rsplit("/", 1)[-1]):
                if self._keep(bus, event):
                    events.append((bus, as_aws_sends_it(event, self.stack.region)))
        return events

    def _keep(self, bus: str, event: dict[str, Any]) -> bool:
        if event.get("source") != "aws.s3":
            return True
        # moto gives every S3 event the same id, so a copy is recognised by its whole body.
        fingerprint = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        if bus != "default" or fingerprint in self._seen_s3_events:
            return False
        self._seen_s3_events.add(fingerprint)
        return True


def as_aws_sends_it(event: dict[str, Any], region: str) -> dict[str, Any]:
    """The envelope as AWS delivers it: moto leaves out "account" (and sometimes "resources")
    from PutEvents events, and names the S3 object's etag "eTag" where AWS says "etag"."""
    event.setdefault("account", ACCOUNT_ID)
    event.setdefault("region", region)
    event.setdefault("resources", [])
    obj = event.get("detail", {}).get("object") if event.get("source") == "aws.s3" else None
    if isinstance(obj, dict) and "eTag" in obj:
        obj["etag"] = obj.pop("eTag")
    return event


def _payload(target: dict[str, Any], event: dict[str, Any], rule: dict[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(constant_input(str(target["Input"])))
    if "InputPath" in target:
        return input_path(str(target["InputPath"]), event)
    if "InputTransformer" in target:
        text = transform(target["InputTransformer"], event, rule_name=rule["Name"], rule_arn=rule.get("Arn"))
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return event


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)

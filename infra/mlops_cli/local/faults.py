"""AWS faults injected into the local cloud: throttling, 5xx, AccessDenied, timeouts, a cut-off run.

A fault answers an AWS call in moto's place, at the HTTP layer (botocore's ``before-send``),
so everything above it behaves as it would on AWS: botocore's own retries see a throttle
or a 5xx and try again; a handler sees the ``ClientError`` botocore raises after its last
try; Lambda's async retries and OnFailure destination see the failed invocation.

    with local_cloud() as cloud:
        cloud.faults.inject(Fault("s3", "PutObject", FaultKind.SERVER_ERROR, function="TrainModelFunction"))

A fault matches a service (botocore's name: ``s3``, ``dynamodb``, ``eventbridge``,
``firehose``, ``lambda``, ``scheduler``), an operation (or ``*``), and optionally the
function whose invocation made the call, so the test's own calls and the router's are
never hit. ``skip`` lets that many matching calls through first (a fault mid-run);
``times`` bounds how many calls fail (``None``: every one, until :meth:`FaultInjector.clear`).

:attr:`FaultKind.CUT_OFF` models Lambda stopping a run at its timeout: the call raises
:class:`InvocationCutOff`, a ``BaseException`` that handler code cannot catch, so nothing
after that call runs and no ``except Exception`` clean-up happens, as when the sandbox
is stopped.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from unittest.mock import patch

import botocore.endpoint
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

#: Services that speak XML and name their errors differently (S3 says SlowDown, not ThrottlingException).
_XML_SERVICES = frozenset({"s3", "sqs", "sns", "cloudformation", "iam", "sts"})


class InvocationCutOff(BaseException):
    """Lambda stopped the run at this call (its timeout), as injected by FaultKind.CUT_OFF."""


class FaultKind(StrEnum):
    THROTTLING = "throttling"
    SERVER_ERROR = "server_error"
    ACCESS_DENIED = "access_denied"
    READ_TIMEOUT = "read_timeout"
    CUT_OFF = "cut_off"


# (HTTP status, JSON error type, S3/XML error code, message)
_ANSWERS: dict[FaultKind, tuple[int, str, str, str]] = {
    FaultKind.THROTTLING: (400, "ThrottlingException", "SlowDown", "Rate exceeded"),
    FaultKind.SERVER_ERROR: (500, "InternalFailure", "InternalError", "We encountered an internal error."),
    FaultKind.ACCESS_DENIED: (
        403,
        "AccessDeniedException",
        "AccessDenied",
        "User is not authorized to perform this action (injected fault)",
    ),
}


@dataclass
class Fault:
    service: str
    operation: str
    kind: FaultKind
    #: Only calls made while this function (logical id) runs; None: every caller.
    function: str | None = None
    #: How many matching calls fail; None: all of them.
    times: int | None = None
    #: How many matching calls pass before the first failure.
    skip: int = 0
    seen: int = 0
    injected: int = 0

    def matches(self, service: str, operation: str, function: str | None) -> bool:
        return (
            self.service == service
            and self.operation in ("*", operation)
            and (self.function is None or self.function == function)
        )

    def fires(self) -> bool:
        """Count one matching call; True if this one fails."""
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.injected >= self.times):
            return False
        self.injected += 1
        return True


@dataclass(frozen=True)
class Call:
    """One AWS call seen while faults were armed: for tests to see what was retried."""

    service: str
    operation: str
    function: str | None
    fault: FaultKind | None


@dataclass
class FaultInjector:
    #: The logical id of the function running now (the runtime tells), or None.
    current_function: Callable[[], str | None] = lambda: None
    faults: list[Fault] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    #: botocore's back-off pauses between retries while faults were armed (seconds, not slept).
    backoffs: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def answer(self, event_name: str, request: AWSPreparedRequest) -> AWSResponse | None:
        """The injected answer to this call, or None to let moto answer it."""
        if not self.faults:
            return None
        _, service, operation = [*event_name.split(".", 2), "", ""][:3]
        function = self.current_function()
        with self._lock:
            fault = next((f for f in self.faults if f.matches(service, operation, function)), None)
            kind = fault.kind if fault is not None and fault.fires() else None
            self.calls.append(Call(service, operation, function, kind))
        if kind is None:
            return None
        if kind is FaultKind.CUT_OFF:
            raise InvocationCutOff(f"{function or 'the caller'} was stopped at {service}.{operation}")
        if kind is FaultKind.READ_TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        return _error_response(request, service, kind)

    def calls_to(self, service: str, operation: str) -> list[Call]:
        return [c for c in self.calls if c.service == service and c.operation == operation]


def _error_response(request: AWSPreparedRequest, service: str, kind: FaultKind) -> AWSResponse:
    status, json_type, xml_code, message = _ANSWERS[kind]
    if kind is FaultKind.THROTTLING and service in _XML_SERVICES:
        status = 503  # S3 throttles with 503 SlowDown
    if service in _XML_SERVICES:
        body = f"<Error><Code>{xml_code}</Code><Message>{message}</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    else:
        body = json.dumps({"__type": json_type, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": json_type}
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


class _BackoffClock:
    """botocore.endpoint's ``time``: its retry back-off is recorded, not slept, while faults are armed."""

    def __init__(self, injector: FaultInjector) -> None:
        self._injector = injector

    def sleep(self, seconds: float) -> None:
        if self._injector.faults:
            self._injector.backoffs.append(seconds)
        else:
            time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def faults_answered_before_moto(injector: FaultInjector) -> Iterator[FaultInjector]:
    """Route every AWS call through ``injector`` first; moto answers what it lets through."""
    original = BotocoreStubber.__call__

    def answer_or_mock(
        stubber: BotocoreStubber, event_name: str, request: AWSPreparedRequest, **kwargs: Any
    ) -> AWSResponse | None:
        if stubber.enabled:
            injected = injector.answer(event_name, request)
            if injected is not None:
                return injected
        return original(stubber, event_name, request, **kwargs)

    with (
        patch.object(BotocoreStubber, "__call__", answer_or_mock),
        patch.object(botocore.endpoint, "time", _BackoffClock(injector)),
    ):
        yield injector

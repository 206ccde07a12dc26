"""Lambda's Invoke API for the stack's own functions, answered by the local runtime instead of moto.

moto runs an invoked function in a Docker container; the local cloud runs its functions in
this process. While :func:`invocations_run_here` is active, an Invoke of a function of the
stack (by name, ARN or partial ARN, with or without a qualifier) is answered here:

- ``Event`` (asynchronous): queued and accepted with 202; :meth:`PendingInvocations.run`
  runs it later with Lambda's retries and OnFailure, as `mlops local up` does on each tick;
- ``RequestResponse``: run now, answered with the result, or with ``X-Amz-Function-Error``
  and Lambda's error payload when the handler raised;
- ``DryRun``: 204, the function exists.

Invokes of functions outside the stack go to moto as before.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from moto.awslambda.models import LambdaBackend

from mlops_cli.local.runtime import FunctionRuntime
from mlops_cli.local.stack import DeployedStack, LocalFunction

_FUNCTION_ARN_PARTS = 7  # arn:aws:lambda:REGION:ACCOUNT:function:NAME


@dataclass
class PendingInvocations:
    """Asynchronous invocations accepted by the API, waiting for the runtime (thread-safe)."""

    _waiting: queue.SimpleQueue[tuple[LocalFunction, Any, str | None]] = field(
        default_factory=queue.SimpleQueue
    )

    def add(self, function: LocalFunction, event: Any, qualifier: str | None) -> None:
        self._waiting.put((function, event, qualifier))

    def run(self, runtime: FunctionRuntime) -> int:
        """Run every waiting invocation, as Lambda runs an accepted event; returns how many ran."""
        ran = 0
        while True:
            try:
                function, event, qualifier = self._waiting.get_nowait()
            except queue.Empty:
                return ran
            runtime.invoke_async(function, event, qualifier)
            ran += 1


def stack_function(
    stack: DeployedStack, name: str, qualifier: str | None
) -> tuple[LocalFunction, str | None]:
    """The function a FunctionName names, and the qualifier (from the name's ARN or the parameter)."""
    parts = name.split(":")
    if len(parts) > _FUNCTION_ARN_PARTS:  # a qualified ARN
        name, qualifier = ":".join(parts[:_FUNCTION_ARN_PARTS]), qualifier or parts[_FUNCTION_ARN_PARTS]
    elif len(parts) == 2:  # NAME:QUALIFIER
        name, qualifier = parts[0], qualifier or parts[1]
    elif len(parts) == 3:  # ACCOUNT:function:NAME, a partial ARN
        name = parts[2]
    function = stack.function(name)  # LookupError when the stack has no such function
    return function, None if qualifier in (None, "", "$LATEST") else qualifier


@contextmanager
def invocations_run_here(
    stack: DeployedStack, runtime: FunctionRuntime, pending: PendingInvocations
) -> Iterator[None]:
    """While active, moto's Lambda Invoke of a stack function is answered by ``runtime``."""
    original = LambdaBackend.invoke

    def invoke(  # noqa: PLR0917 - the signature of moto's LambdaBackend.invoke
        backend: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        try:
            function, version = stack_function(stack, function_name, qualifier)
        except LookupError:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body) if body else {}
        kind = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        if kind == "Event":
            pending.add(function, event, version)
            return b""
        if kind == "DryRun":
            return b""
        try:
            result = runtime.invoke(function, event, version)
        except Exception as error:  # Lambda answers a raising handler with its error, not a fault
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
        return json.dumps(result, default=str)

    with patch.object(LambdaBackend, "invoke", invoke):
        yield

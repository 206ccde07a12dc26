"""Invoke a stack's function in this process, as Lambda would: its environment, a context, async retries.

A function's module is imported once with the function's environment set (its cold
start) and kept, like a warm container. Asynchronous invocations follow Lambda's rules:
a raising invocation is retried per the function's EventInvokeConfig (two retries by
default), then the invocation record goes to the OnFailure destination.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TextIO

from mlops_cli.lambda_runtime import LocalLambdaContext
from mlops_cli.local.environment import environment
from mlops_cli.local.faults import InvocationCutOff
from mlops_cli.local.stack import DeployedStack, LocalFunction

Handler = Callable[[Any, LocalLambdaContext], Any]

#: The logical id of the function running in this thread: injected faults are scoped by it,
#: and tools that watch a function's AWS calls read it.
RUNNING_FUNCTION: ContextVar[str | None] = ContextVar("running_function", default=None)


class FunctionTimeout(RuntimeError):
    """The handler ran past its function's Timeout."""


@dataclass
class Invocation:
    """One attempt of one invocation, for logs, tests and the demo's timeline."""

    function: str
    request_id: str
    attempt: int
    ok: bool
    result: Any = None
    error: str | None = None


@dataclass
class FunctionRuntime:
    """Runs the functions of one deployed stack; ``session`` is a boto3 Session on moto."""

    stack: DeployedStack
    session: Any
    on_invocation: Callable[[Invocation], None] | None = None
    #: Where the functions' own output (structured logs, EMF metrics) goes; stdout if None.
    log_stream: TextIO | None = None
    _handlers: dict[str, Handler] = field(default_factory=dict)
    # One invocation at a time: functions run with their environment in os.environ, which
    # the HTTP front of `mlops local up` and the event router would otherwise share.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(
        self, function: LocalFunction, event: Any, qualifier: str | None = None, *, attempt: int = 1
    ) -> Any:
        """A synchronous invocation; raises what the handler raises.

        ``qualifier`` (an alias or a version) runs the published version it names, with the
        environment that version was published with, as Lambda does; an alias with routing
        weights picks its version at random by weight.
        """
        version, published = self._version(function, qualifier)
        context = LocalLambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=float(function.timeout_seconds),
            function_version=version,
            region=self.stack.region,
        )
        variables = (published if published is not None else function.environment) | _lambda_variables(
            function, self.stack.region, version
        )
        with self._lock, environment(variables), _output_to(self.log_stream):
            running = RUNNING_FUNCTION.set(function.logical_id)
            try:
                # A failing import is a failed invocation too (Runtime.ImportModuleError on Lambda).
                handler = self._handler(function, version)
                result = handler(event, context)
                if context.get_remaining_time_in_millis() <= 0:
                    # A thread cannot be stopped from outside; the run is judged when it ends,
                    # and counts as failed, as Lambda would have cut it off.
                    raise FunctionTimeout(f"Task timed out after {function.timeout_seconds} seconds")
            except InvocationCutOff as cut_off:
                # An injected stop mid-run: the handler saw nothing, as Lambda's timeout would do.
                timeout = FunctionTimeout(f"Task timed out after {function.timeout_seconds} seconds")
                failed = Invocation(function.logical_id, context.aws_request_id, attempt, False)
                failed.error = str(cut_off)
                self._record(failed)
                raise timeout from cut_off
            except Exception as error:
                self._record(
                    Invocation(
                        function.logical_id,
                        context.aws_request_id,
                        attempt,
                        False,
                        error=f"{type(error).__name__}: {error}",
                    )
                )
                raise
            finally:
                RUNNING_FUNCTION.reset(running)
        self._record(Invocation(function.logical_id, context.aws_request_id, attempt, True, result=result))
        return result

    def invoke_async(self, function: LocalFunction, event: Any, qualifier: str | None = None) -> bool:
        """An asynchronous (event) invocation: retried, then sent to OnFailure. True if it succeeded."""
        attempts = 1 + function.async_config.maximum_retry_attempts
        failure: BaseException | None = None
        for attempt in range(1, attempts + 1):
            try:
                self.invoke(function, event, qualifier, attempt=attempt)
                return True
            except Exception as error:
                failure = error
        if function.async_config.on_failure_arn is not None and failure is not None:
            self._send_failure_record(function, event, failure, attempts)
        return False

    def _handler(self, function: LocalFunction, version: str = "$LATEST") -> Handler:
        """One module per function version: each is its own container, with its own cold start."""
        key = f"{function.logical_id}:{version}"
        if key not in self._handlers:
            self._handlers[key] = _load_handler(function, version)
        return self._handlers[key]

    def _version(self, function: LocalFunction, qualifier: str | None) -> tuple[str, dict[str, str] | None]:
        """The version a qualifier resolves to, and the environment it was published with."""
        if qualifier is None or qualifier == "$LATEST":
            return "$LATEST", None
        lambdas = self.session.client("lambda")
        version = qualifier
        if not qualifier.isdigit():
            alias = lambdas.get_alias(FunctionName=function.name, Name=qualifier)
            version = str(alias["FunctionVersion"])
            weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
            draw = random.random()  # noqa: S311 - traffic splitting, not security
            for other, weight in weights.items():
                if draw < weight:
                    version = str(other)
                    break
                draw -= weight
        config = lambdas.get_function_configuration(FunctionName=function.name, Qualifier=version)
        # Lambda's variables are text; moto can hand numbers back as numbers.
        return version, {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}

    def _record(self, invocation: Invocation) -> None:
        if self.on_invocation is not None:
            self.on_invocation(invocation)

    def _send_failure_record(
        self, function: LocalFunction, event: Any, error: BaseException, count: int
    ) -> None:
        """The record Lambda sends to an OnFailure destination after the last retry."""
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{function.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": count,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error)[-5:],
            },
        }
        destination = str(function.async_config.on_failure_arn)
        if ":sqs:" not in destination:
            raise NotImplementedError(f"OnFailure destination {destination}: only SQS is emulated")
        sqs = self.session.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record, default=str))


def _load_handler(function: LocalFunction, version: str = "$LATEST") -> Handler:
    module_file, _, attribute = function.handler.rpartition(".")
    path = function.code_dir / f"{module_file.replace('.', '/')}.py"
    label = "latest" if version == "$LATEST" else f"v{version}"
    module_name = f"mlops_local_functions.{function.logical_id}.{label}.{module_file}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} for {function.logical_id}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, attribute)
    return handler


def _lambda_variables(function: LocalFunction, region: str, version: str = "$LATEST") -> dict[str, str]:
    """The variables Lambda itself sets, which Powertools reads."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # No X-Ray daemon here: Powertools' tracer stays off instead of failing to connect.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


@contextmanager
def _output_to(stream: TextIO | None) -> Iterator[None]:
    if stream is None:
        yield
        return
    with redirect_stdout(stream):
        yield

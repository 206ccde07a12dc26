"""The local cloud: template.yaml deployed into moto, its functions run and its events routed here.

    with local_cloud() as cloud:
        upload_contract(cloud.session, cloud.bucket, Path("infra/contracts/churn.yaml"))
        cloud.s3.upload_file("churn.csv", cloud.bucket, "incoming/churn/churn.csv")
        cloud.settle()   # events flow until none are left

No AWS account, no Docker, no network: moto runs in this process, and everything is
wired by what template.yaml says.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from unittest.mock import patch

import boto3
from moto import mock_aws
from moto.events.models import Rule

from mlops_cli.lambda_runtime import REPO_ROOT
from mlops_cli.local.environment import environment
from mlops_cli.local.event_router import Delivery, EventRouter, taps_kept_in_memory
from mlops_cli.local.faults import FaultInjector, faults_answered_before_moto
from mlops_cli.local.firehose import firehose_as_aws_delivers
from mlops_cli.local.runtime import RUNNING_FUNCTION, FunctionRuntime, Invocation
from mlops_cli.local.schedules import LocalClock, ScheduleRunner
from mlops_cli.local.stack import DeployedStack, deploy

TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "eu-west-1"
# moto accepts any credentials; these keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass
class LocalCloud:
    stack: DeployedStack
    session: Any
    runtime: FunctionRuntime
    router: EventRouter
    clock: LocalClock
    schedules: ScheduleRunner
    #: AWS faults to inject into the functions' calls (none unless a test arms one).
    faults: FaultInjector

    @property
    def bucket(self) -> str:
        return self.stack.outputs["DataBucketName"]

    @property
    def s3(self) -> Any:
        return self.session.client("s3")

    def settle(self) -> int:
        """Route events until none are left; returns how many deliveries were made."""
        return self.router.pump()

    def advance(self, seconds: float) -> int:
        """Move the clock on, fire the schedules that fell due, then let their events flow."""
        self.clock.advance(seconds)
        return self.schedules.tick() + self.settle()

    def invoke(self, function: str, event: Any) -> Any:
        """A synchronous invocation, like `sam local invoke` (without Docker)."""
        return self.runtime.invoke(self.stack.function(function), event)


def schedule_runner(
    session: Any, router: EventRouter, runtime: FunctionRuntime, clock: LocalClock
) -> ScheduleRunner:
    """Schedules fire through the router (rules) or straight to their target (Scheduler)."""

    def deliver_schedule(target: dict[str, Any], payload: Any) -> bool:
        arn = str(target["Arn"])
        function = router.stack.function_by_arn(arn)
        if function is not None:
            return runtime.invoke_async(function, payload)
        if ":sqs:" in arn:
            router.send_to_queue(arn, payload)
            return True
        raise NotImplementedError(f"schedule target {arn}: the local cloud runs Lambda and SQS targets")

    def deliver_rule(bus: str, rule: dict[str, Any], target: dict[str, Any], event: dict[str, Any]) -> int:
        return router.deliver(bus, rule, target, event, moto_delivers=False)

    return ScheduleRunner(session, router.stack.region, clock, deliver_rule, deliver_schedule)


@contextmanager
def lambda_targets_left_to_the_router() -> Iterator[None]:
    """moto raises NotImplementedError for a Lambda target, which also stops the event from
    reaching the rules after it (S3 notifications swallow the error, PutEvents fails). The
    router invokes Lambda targets; moto keeps delivering to everything else."""
    original = Rule.send_to_targets

    def send_to_other_targets(rule: Rule, event: Any, transform_input: bool = True) -> None:
        targets = rule.targets
        rule.targets = [t for t in targets if ":lambda:" not in str(t.get("Arn"))]
        try:
            original(rule, event, transform_input)
        finally:
            rule.targets = targets

    with patch.object(Rule, "send_to_targets", send_to_other_targets):
        yield


@contextmanager
def local_cloud(
    template: Path = TEMPLATE,
    *,
    stack_name: str = "mlops-local",
    parameters: dict[str, str] | None = None,
    log_stream: TextIO | None = None,
    on_invocation: Callable[[Invocation], None] | None = None,
    on_delivery: Callable[[Delivery], None] | None = None,
    on_dispatch: Callable[[Delivery], None] | None = None,
) -> Iterator[LocalCloud]:
    """Start moto in this process, deploy ``template`` into it, and yield the running cloud."""
    # moto logs a warning per resource type its CloudFormation skips; stack.py covers them.
    logging.getLogger("moto").setLevel(logging.ERROR)
    faults = FaultInjector(current_function=RUNNING_FUNCTION.get)
    with (
        environment(LOCAL_CREDENTIALS),
        mock_aws(),
        faults_answered_before_moto(faults),
        lambda_targets_left_to_the_router(),
        taps_kept_in_memory(),
        firehose_as_aws_delivers(),
        warnings.catch_warnings(),
    ):
        # moto warns for each resource type its CloudFormation skips (bucket and queue
        # policies, EventInvokeConfig); the stack module reads those from the template.
        warnings.simplefilter("ignore", UserWarning)
        session = boto3.Session(region_name=REGION)
        stack = deploy(session, template, stack_name=stack_name, parameters=parameters)
        runtime = FunctionRuntime(stack, session, on_invocation=on_invocation, log_stream=log_stream)
        router = EventRouter(stack, session, runtime, on_delivery=on_delivery, on_dispatch=on_dispatch)
        router.install_taps()
        clock = LocalClock(frozen_at=datetime.now(UTC))
        yield LocalCloud(
            stack, session, runtime, router, clock, schedule_runner(session, router, runtime, clock), faults
        )

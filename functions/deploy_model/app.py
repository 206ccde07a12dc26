"""deploy_model: an approved model version goes live by the stack's rollout strategy.

Two kinds of invocation: an EventBridge event (ModelApproved, DeploymentRequested) starts a
rollout (:func:`mlops_core.deployment.start_deployment`); a one-time EventBridge Scheduler
schedule ``{"deployment_id": ..., "step": n}`` advances it
(:func:`mlops_core.deployment.advance_deployment`), so no invocation waits while a canary
bakes. A refused rollout (the version is not approved) is reported, not retried; so is a
ModelApproved older than the version the alias runs or is rolling out (a late or repeated
delivery), which must not take the endpoint back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.deployment import (
    Deployment,
    DeploymentRefused,
    advance_deployment,
    stale_approval,
    start_deployment,
)
from mlops_core.deployment_adapters import (
    CloudWatchAlarms,
    DynamoDBDeploymentStore,
    LambdaFunctionVersions,
    SchedulerStepScheduler,
)
from mlops_core.events import DeploymentRequested, EventBridgePublisher, ModelApproved
from mlops_core.observability import logger, metrics, tracer
from mlops_core.registry import DynamoDBModelRegistry
from mlops_core.settings import DeployModelSettings

settings = DeployModelSettings.from_environ()
registry = DynamoDBModelRegistry(boto3.client("dynamodb"), settings.registry_table)
store = DynamoDBDeploymentStore(boto3.client("dynamodb"), settings.deployments_table)
functions = LambdaFunctionVersions(
    boto3.client("lambda"), settings.predict_function, alias=settings.live_alias
)
alarms = CloudWatchAlarms(
    boto3.client("cloudwatch"),
    settings.predict_function,
    alias=settings.live_alias,
    p99_threshold_ms=settings.latency_alarm_ms,
    metrics_namespace=settings.metrics_namespace,
)
publisher = EventBridgePublisher(boto3.client("events"), settings.event_bus_name)
scheduler_client = boto3.client("scheduler")


class RolloutStep(BaseModel):
    """What a rollout step's schedule sends."""

    model_config = ConfigDict(extra="forbid")
    deployment_id: str = Field(min_length=1)
    step: int = Field(ge=1)


@logger.inject_lambda_context(log_event=True, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The schedules invoke this very function: its ARN comes from the invocation.
    scheduler = SchedulerStepScheduler(
        scheduler_client,
        context.invoked_function_arn,
        settings.scheduler_role_arn,
        dead_letter_arn=settings.step_dead_letter_arn,
    )
    ports: dict[str, Any] = {
        "registry": registry,
        "functions": functions,
        "scheduler": scheduler,
        "alarms": alarms,
        "store": store,
        "publisher": publisher,
        "now": datetime.now(UTC),
    }
    if "deployment_id" in event:
        step = RolloutStep.model_validate(event)
        logger.append_keys(deployment_id=step.deployment_id, step=step.step)
        return _outcome(advance_deployment(step.deployment_id, step.step, **ports), "step")
    envelope = parse(event=event, model=EventBridgeModel)
    model, version, strategy = _request(envelope)
    logger.append_keys(model=model, version=version, strategy=strategy)
    if envelope.detail_type == ModelApproved.detail_type:
        stale = stale_approval(model, version, store=store, alias=settings.live_alias)
        if stale is not None:
            logger.warning("stale approval ignored", extra={"reason": stale})
            metrics.add_metric(name="StaleApprovalsIgnored", unit=MetricUnit.Count, value=1)
            return {"status": "Stale", "reason": stale}
    try:
        deployment = start_deployment(model, version, strategy, alias=settings.live_alias, **ports)
    except DeploymentRefused as refusal:
        logger.warning("deployment refused", extra={"reason": str(refusal)})
        metrics.add_metric(name="DeploymentsRefused", unit=MetricUnit.Count, value=1)
        return {"status": "Refused", "reason": str(refusal)}
    return _outcome(deployment, "start")


def _request(envelope: EventBridgeModel) -> tuple[str, int, str]:
    if envelope.detail_type == DeploymentRequested.detail_type:
        requested = DeploymentRequested.model_validate(envelope.detail)
        return requested.model, requested.version, requested.strategy or settings.deployment_strategy
    approved = ModelApproved.model_validate(envelope.detail)
    return approved.model, approved.version, settings.deployment_strategy


def _outcome(deployment: Deployment | None, what: str) -> dict[str, Any]:
    if deployment is None:
        logger.info(f"{what}: nothing to do (superseded, finished or repeated)")
        return {"status": "NoOp"}
    metrics.add_metric(name=f"Deployments{deployment.status.value}", unit=MetricUnit.Count, value=1)
    logger.info(f"{what}: deployment {deployment.status.value}", extra=deployment.model_dump(mode="json"))
    return deployment.model_dump(mode="json")

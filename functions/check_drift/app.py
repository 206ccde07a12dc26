"""check_drift: every production model's captured traffic against its training baseline,
and its predictions against the ground-truth labels users upload.

Invoked by its EventBridge Scheduler schedule (``{"scheduled_time": ...}``: the scheduled
time names the run, so a retried invocation records each verdict once), by a
``DriftCheckRequested`` event on the bus (``mlops drift run``; the event names its run), or
directly (``{"models": [...]}``, optional). A ``DatasetValidated`` event compares the new
file with the baseline of the dataset's production models (training-data drift).
Each model's report, events and alert come from
:func:`mlops_core.drift_run.run_drift_checks`; this handler wires the AWS clients, emits
the metrics and raises when a model could not be checked, so the invocation is retried
and, after its retries, lands in the failure queue.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.drift.html import render_html
from mlops_core.drift.state import QUALITY_STATE_KEY, DynamoDBDriftStateStore
from mlops_core.drift_run import DriftRunOutcome, SnsAlerts, run_drift_checks, run_training_data_checks
from mlops_core.events import DatasetValidated, DriftCheckRequested, EventBridgePublisher
from mlops_core.object_store import S3ObjectStore
from mlops_core.observability import logger, metrics, tracer
from mlops_core.registry import DynamoDBModelRegistry
from mlops_core.settings import CheckDriftSettings

settings = CheckDriftSettings.from_environ()
dynamodb = boto3.client("dynamodb")
registry = DynamoDBModelRegistry(dynamodb, settings.registry_table)
states = DynamoDBDriftStateStore(dynamodb, settings.registry_table)
quality_states = DynamoDBDriftStateStore(dynamodb, settings.registry_table, key=QUALITY_STATE_KEY)
store = S3ObjectStore(boto3.client("s3"), settings.data_bucket)
publisher = EventBridgePublisher(boto3.client("events"), settings.event_bus_name)
alerts = SnsAlerts(boto3.client("sns"), settings.alert_topic_arn)


class DriftCheckRequest(BaseModel):
    """What the schedule or ``mlops drift run`` sends."""

    model_config = ConfigDict(extra="forbid")
    scheduled_time: datetime | None = None
    models: list[str] | None = Field(default=None, description="None: every model in the registry")


class DriftCheckFailed(RuntimeError):
    """At least one model could not be checked; raised so the invocation is retried."""


@logger.inject_lambda_context(log_event=True, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == DatasetValidated.detail_type:
        validated = DatasetValidated.model_validate(parse(event=event, model=EventBridgeModel).detail)
        logger.append_keys(dataset=validated.dataset, run_id=validated.run_id)
        checks = run_training_data_checks(
            validated.dataset,
            validated.validated_uri,
            registry=registry,
            store=store,
            publisher=publisher,
            now=datetime.now(UTC),
            run_id=validated.run_id,
        )
        for check in checks:
            logger.info(
                f"training data of {check.model}: {check.status}", extra=check.model_dump(mode="json")
            )
        return {"training_data": [c.model_dump(mode="json", exclude={"features", "error"}) for c in checks]}
    models, now, run_id = _request(event)
    logger.append_keys(run_id=run_id)
    outcome = run_drift_checks(
        models,
        registry=registry,
        store=store,
        states=states,
        publisher=publisher,
        alerts=alerts,
        now=now,
        run_id=run_id,
        retrain_allowed=settings.retrain_on_drift == "contract",
        render_html=render_html,
        quality_states=quality_states,
    )
    _emit(outcome)
    if outcome.failed:
        raise DriftCheckFailed(f"drift check failed for {', '.join(outcome.failed)} (run {run_id})")
    return outcome.model_dump(mode="json", exclude={"models": {"__all__": {"error", "features"}}})


def _request(event: dict[str, Any]) -> tuple[list[str] | None, datetime, str]:
    """Which models, the window's end and the run id, from whichever kind of invocation."""
    if "detail-type" in event:
        requested = DriftCheckRequested.model_validate(parse(event=event, model=EventBridgeModel).detail)
        return requested.models, datetime.now(UTC), requested.run_id
    request = DriftCheckRequest.model_validate(event)
    if request.scheduled_time is not None:
        scheduled = request.scheduled_time.astimezone(UTC)
        return request.models, scheduled, f"{scheduled:%Y%m%dT%H%M%SZ}-scheduled"
    now = datetime.now(UTC)
    return request.models, now, f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _emit(outcome: DriftRunOutcome) -> None:
    """Logs per model; metrics per run (alarms), per model and per feature (the dashboard)."""
    metrics.add_metric(name="ModelsChecked", unit=MetricUnit.Count, value=len(outcome.models))
    metrics.add_metric(name="ModelsDrifting", unit=MetricUnit.Count, value=len(outcome.drifting))
    metrics.add_metric(name="DriftChecksFailed", unit=MetricUnit.Count, value=len(outcome.failed))
    metrics.add_metric(name="ModelsDegraded", unit=MetricUnit.Count, value=len(outcome.degraded))
    for check in outcome.models:
        if check.status == "failed":
            logger.error(
                f"{check.model}: {check.reason}", extra={"model": check.model, "traceback": check.error}
            )
            continue
        logger.info(f"{check.model}: {check.status}", extra=check.model_dump(mode="json", exclude={"error"}))
        if check.status == "skipped":
            continue
        per_model = EphemeralMetrics()
        per_model.add_dimension(name="model", value=check.model)
        per_model.add_metric(name="DriftShare", unit=MetricUnit.Count, value=check.drift_share or 0.0)
        per_model.add_metric(name="DatasetDrift", unit=MetricUnit.Count, value=int(check.status == "drift"))
        per_model.add_metric(name="DriftConfirmed", unit=MetricUnit.Count, value=int(check.confirmed))
        if check.quality is not None and check.quality.drop is not None:
            per_model.add_metric(name="QualityDrop", unit=MetricUnit.Count, value=check.quality.drop)
            per_model.add_metric(
                name="QualityConfirmed", unit=MetricUnit.Count, value=int(check.quality.confirmed)
            )
        per_model.flush_metrics()
        for name, score in check.features.items():
            per_feature = EphemeralMetrics()
            per_feature.add_dimension(name="model", value=check.model)
            per_feature.add_dimension(name="feature", value=name)
            per_feature.add_metric(name="FeatureDriftStatistic", unit=MetricUnit.Count, value=score.statistic)
            per_feature.add_metric(name="FeatureDrifted", unit=MetricUnit.Count, value=int(score.drifted))
            per_feature.flush_metrics()

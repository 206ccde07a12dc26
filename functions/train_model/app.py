"""train_model: a validated dataset whose contract has a training section becomes a model.

Triggered by DatasetValidated (and RetrainRequested, from the drift check) on the project
bus. Decorators, parse, one domain call (:func:`mlops_core.model_training.train_dataset`),
metrics. Idempotent per validated file and request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_core.events import DatasetValidated, EventBridgePublisher, RetrainRequested
from mlops_core.idempotency import idempotency_for
from mlops_core.model_training import TrainingOutcome, TrainingRequest, train_dataset
from mlops_core.object_store import S3ObjectStore
from mlops_core.observability import logger, metrics, tracer
from mlops_core.settings import TrainModelSettings

settings = TrainModelSettings.from_environ()
store = S3ObjectStore(boto3.client("s3"), settings.data_bucket)
publisher = EventBridgePublisher(boto3.client("events"), settings.event_bus_name)
idempotency, persistence = idempotency_for(
    ("dataset_key", "requested_by"),
    table=settings.idempotency_table,
    ttl_seconds=settings.idempotency_ttl_seconds,
)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    request = _request(parse(event=event, model=EventBridgeModel))
    logger.append_keys(dataset=request.dataset, dataset_key=request.dataset_key)
    outcome: TrainingOutcome = train(request=request)
    metrics.add_dimension(name="dataset", value=outcome.dataset)
    metrics.add_metric(name=f"Training{outcome.status.capitalize()}", unit=MetricUnit.Count, value=1)
    if outcome.seconds is not None:
        metrics.add_metric(name="TrainingSeconds", unit=MetricUnit.Seconds, value=outcome.seconds)
    return outcome.model_dump(mode="json")


def _request(envelope: EventBridgeModel) -> TrainingRequest:
    prefix = f"s3://{settings.data_bucket}/"
    if envelope.detail_type == RetrainRequested.detail_type:
        retrain = RetrainRequested.model_validate(envelope.detail)
        return TrainingRequest(
            dataset=retrain.dataset,
            dataset_key=retrain.dataset_uri.removeprefix(prefix),
            reason=retrain.reason,
            requested_by=f"{retrain.requested_at:%Y%m%dT%H%M%SZ}",
        )
    validated = DatasetValidated.model_validate(envelope.detail)
    return TrainingRequest(
        dataset=validated.dataset,
        dataset_key=validated.validated_uri.removeprefix(prefix),
        dataset_sha256=validated.source.sha256,
        reason="new validated data",
        requested_by=validated.run_id,
    )


# Powertools' decorators are untyped; the function's own signature is what mypy checks.
@idempotent_function(  # type: ignore[untyped-decorator]
    data_keyword_argument="request",
    config=idempotency,
    persistence_store=persistence,
    output_serializer=PydanticSerializer(model=TrainingOutcome),
)
@tracer.capture_method
def train(request: TrainingRequest) -> TrainingOutcome:
    outcome = train_dataset(request, store, publisher, scratch_dir=Path(settings.scratch_dir))
    log = logger.info if outcome.status != "failed" else logger.error
    log(f"training {outcome.status}", extra=outcome.model_dump(mode="json"))
    return outcome

"""register_model: verify a model as untrusted data, give it a version, apply the approval policy.

Triggered by ModelTrained on the project bus, and by a bring-your-own upload: the
``manifest.json`` of ``models/incoming/<model>/<id>/`` (uploaded after its ``model.skops``).
Idempotent per model and artifact: a repeated event registers nothing twice.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    S3EventNotificationEventBridgeModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_core.approval import ApprovalPolicy
from mlops_core.dataset_gate import UploadedObject
from mlops_core.events import EventBridgePublisher, ModelTrained
from mlops_core.idempotency import idempotency_for
from mlops_core.model_registration import ModelSubmission, RegistrationOutcome, register_model
from mlops_core.object_store import S3ObjectStore
from mlops_core.observability import logger, metrics, tracer
from mlops_core.registry import DynamoDBModelRegistry
from mlops_core.settings import RegisterModelSettings
from mlops_core.training.manifest import ARTIFACT_FILE, BASELINE_FILE

settings = RegisterModelSettings.from_environ()
store = S3ObjectStore(boto3.client("s3"), settings.data_bucket)
registry = DynamoDBModelRegistry(boto3.client("dynamodb"), settings.registry_table)
publisher = EventBridgePublisher(boto3.client("events"), settings.event_bus_name)
policy = ApprovalPolicy(
    metric_floor=settings.approval_metric_floor, min_improvement=settings.approval_min_improvement
)
idempotency, persistence = idempotency_for(
    ("model", "artifact_key", "expected_sha256"),
    table=settings.idempotency_table,
    ttl_seconds=settings.idempotency_ttl_seconds,
)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    submission = _submission(event)
    logger.append_keys(model=submission.model, source=submission.source, artifact=submission.artifact_key)
    outcome: RegistrationOutcome = register(submission=submission)
    metrics.add_dimension(name="model", value=outcome.model)
    metrics.add_metric(name=f"Models{outcome.status}", unit=MetricUnit.Count, value=1)
    return outcome.model_dump(mode="json")


def _submission(event: dict[str, Any]) -> ModelSubmission:
    if event.get("source") == "aws.s3":
        notification = parse(event=event, model=S3EventNotificationEventBridgeModel)
        key = PurePosixPath(UploadedObject.decode_key(notification.detail.object.key))
        folder = key.parent  # models/incoming/<model>/<id>
        return ModelSubmission(
            model=folder.parent.name,
            artifact_key=str(folder / ARTIFACT_FILE),
            manifest_key=str(key),
            baseline_key=str(folder / BASELINE_FILE),
            source="uploaded",
        )
    envelope = parse(event=event, model=EventBridgeModel)
    trained = ModelTrained.model_validate(envelope.detail)
    bucket_prefix = f"s3://{settings.data_bucket}/"
    return ModelSubmission(
        model=trained.model,
        artifact_key=trained.artifact_uri.removeprefix(bucket_prefix),
        manifest_key=trained.manifest_uri.removeprefix(bucket_prefix),
        baseline_key=trained.baseline_uri.removeprefix(bucket_prefix),
        dataset=trained.dataset,
        expected_sha256=trained.artifact_sha256,
        training_run_id=trained.training_run_id,
        source="trained",
    )


# Powertools' decorators are untyped; the function's own signature is what mypy checks.
@idempotent_function(  # type: ignore[untyped-decorator]
    data_keyword_argument="submission",
    config=idempotency,
    persistence_store=persistence,
    output_serializer=PydanticSerializer(model=RegistrationOutcome),
)
@tracer.capture_method
def register(submission: ModelSubmission) -> RegistrationOutcome:
    outcome = register_model(submission, store, registry, publisher, policy)
    logger.info("model registration", extra=outcome.model_dump(mode="json"))
    return outcome

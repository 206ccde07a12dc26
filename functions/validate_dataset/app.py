"""validate_dataset: an object created under incoming/<dataset>/ is checked against its contract.

Triggered by the EventBridge rule on S3 "Object Created" events of the data bucket.
Decorators, parse, one domain call (:func:`mlops_core.dataset_gate.gate_upload`), metrics.
Idempotent on bucket + key + version id + etag: a duplicate delivery makes no second copy
and no second event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_core.dataset_gate import GateOutcome, UploadedObject, gate_upload
from mlops_core.events import EventBridgePublisher
from mlops_core.idempotency import idempotency_for
from mlops_core.object_store import S3ObjectStore
from mlops_core.observability import logger, metrics, tracer
from mlops_core.settings import ValidateDatasetSettings

# Built once per container, reused by every invocation it serves.
settings = ValidateDatasetSettings.from_environ()
store = S3ObjectStore(boto3.client("s3"), settings.data_bucket)
publisher = EventBridgePublisher(boto3.client("events"), settings.event_bus_name)
idempotency, persistence = idempotency_for(
    ("bucket", "key", "version_id", "etag"),
    table=settings.idempotency_table,
    ttl_seconds=settings.idempotency_ttl_seconds,
)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    notification = parse(event=event, model=S3EventNotificationEventBridgeModel)
    detail = notification.detail
    upload = UploadedObject(
        bucket=detail.bucket.name,
        key=UploadedObject.decode_key(detail.object.key),
        version_id=detail.object.version_id,
        etag=detail.object.etag or None,
        size=int(detail.object.size or 0),
        event_time=notification.time,
    )
    logger.append_keys(dataset=upload.dataset, run_id=upload.run_id, key=upload.key)
    if upload.bucket != settings.data_bucket:
        logger.warning("ignored an event of another bucket", extra={"bucket": upload.bucket})
        metrics.add_metric(name="EventsIgnored", unit=MetricUnit.Count, value=1)
        return {"ignored": True, "reason": f"bucket {upload.bucket} is not the data bucket"}
    outcome: GateOutcome = validate_upload(upload=upload)
    _record(outcome)
    return outcome.model_dump(mode="json")


# Powertools' decorators are untyped; the function's own signature is what mypy checks.
@idempotent_function(  # type: ignore[untyped-decorator]
    data_keyword_argument="upload",
    config=idempotency,
    persistence_store=persistence,
    output_serializer=PydanticSerializer(model=GateOutcome),
)
@tracer.capture_method
def validate_upload(upload: UploadedObject) -> GateOutcome:
    outcome = gate_upload(upload, store, publisher, scratch_dir=Path(settings.scratch_dir))
    logger.info(
        "dataset validated" if outcome.valid else "dataset rejected",
        extra={
            "valid": outcome.valid,
            "rows": outcome.rows,
            "violations": outcome.violations,
            "report_uri": outcome.report_uri,
            "destination_uri": outcome.destination_uri,
        },
    )
    return outcome


def _record(outcome: GateOutcome) -> None:
    metrics.add_dimension(name="dataset", value=outcome.dataset)
    metrics.add_metric(
        name="DatasetsValidated" if outcome.valid else "DatasetsRejected", unit=MetricUnit.Count, value=1
    )
    metrics.add_metric(name="Rows", unit=MetricUnit.Count, value=outcome.rows)
    metrics.add_metric(name="Violations", unit=MetricUnit.Count, value=sum(outcome.violations.values()))
    metrics.add_metric(name="Bytes", unit=MetricUnit.Bytes, value=outcome.bytes)
    metrics.add_metric(name="ValidationSeconds", unit=MetricUnit.Seconds, value=outcome.seconds)

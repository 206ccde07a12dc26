"""predict: the model endpoint, behind a Lambda Function URL (AWS_IAM auth).

POST /predict checks every instance against the model's inputs and answers predictions
(and class probabilities), the model name and version, and the request id; GET /health
says whether this version can serve. Each published version serves the one model
deploy_model bound to it in its environment; the model is downloaded and verified once
per container. Sampled requests are captured to Firehose; capture never fails a request.
docs/predict.md is the reference.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from http import HTTPStatus
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_core.capture import CaptureSink, FirehoseCaptureSink, Sampler, capture_records, now
from mlops_core.endpoint_metrics import SERVER_ERRORS_METRIC, SERVICE, VERSION_DIMENSION
from mlops_core.object_store import S3ObjectStore
from mlops_core.observability import logger, metrics, tracer
from mlops_core.prediction import (
    BadRequest,
    InvalidInstances,
    LoadedModel,
    ModelBinding,
    ModelHolder,
    ModelUnavailable,
    PayloadTooLarge,
    PredictionFailed,
    PredictionResult,
    RequestLimits,
    UnsupportedMediaType,
    load_bound_model,
    media_type,
    read_instances,
    response_body,
)
from mlops_core.settings import PredictSettings

JSON = "application/json"
REQUEST_ID_HEADER = "x-request-id"

settings = PredictSettings.from_environ()
store = S3ObjectStore(boto3.client("s3"), settings.data_bucket)
binding = ModelBinding(
    artifact_uri=settings.artifact_uri,
    artifact_sha256=settings.artifact_sha256,
    manifest_uri=settings.manifest_uri,
    model_name=settings.model_name,
    version=settings.model_version,
)
holder = ModelHolder(lambda: load_bound_model(binding, store))
limits = RequestLimits(max_instances=settings.max_instances, max_body_bytes=settings.max_body_bytes)
sampler = Sampler(settings.capture_sampling)
sink: CaptureSink | None = (
    FirehoseCaptureSink(boto3.client("firehose"), settings.capture_stream)
    if settings.capture_stream
    else None
)
app = LambdaFunctionUrlResolver()


@app.get("/health")
def health() -> Response[str]:
    try:
        model = holder.get()
    except ModelUnavailable as unavailable:
        return _respond(503, {"status": "unavailable", "reason": str(unavailable)})
    return _respond(200, {"status": "ok", "model": model.name, "version": model.version})


@app.post("/predict")
def predict() -> Response[str]:
    received = now()
    model = holder.get()
    event = app.current_event
    content_type = event.headers.get("content-type")
    instances = read_instances(
        _body(event.body, bool(event.is_base64_encoded)), content_type, model.fields, limits
    )
    result = model.predict(instances)
    request_id = _request_id()
    _capture(model, request_id, received, instances, result)
    metrics.add_dimension(name="model", value=model.name)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=len(instances))
    logger.info(
        "prediction",
        extra={
            "model": model.name,
            "version": model.version,
            "instances": len(instances),
            "content_type": media_type(content_type),
        },
    )
    return _respond(200, response_body(model, request_id, result))


# --- every error, mapped to its response in one place ----------------------------------------
# Powertools' exception_handler is untyped; each handler's own signature is what mypy checks.


@app.exception_handler(InvalidInstances)  # type: ignore[untyped-decorator]
def _invalid_instances(error: InvalidInstances) -> Response[str]:
    body: dict[str, Any] = {
        "error": "invalid_instances",
        "message": f"{len(error.errors)} problem(s) in the instances; nothing was predicted",
        "errors": error.shown,
    }
    if error.not_shown:
        body["errors_not_shown"] = error.not_shown
    return _respond(400, body)


@app.exception_handler(BadRequest)  # type: ignore[untyped-decorator]
def _bad_request(error: BadRequest) -> Response[str]:
    return _respond(400, {"error": "bad_request", "message": str(error)})


@app.exception_handler(PayloadTooLarge)  # type: ignore[untyped-decorator]
def _too_large(error: PayloadTooLarge) -> Response[str]:
    return _respond(413, {"error": "payload_too_large", "message": str(error)})


@app.exception_handler(UnsupportedMediaType)  # type: ignore[untyped-decorator]
def _unsupported(error: UnsupportedMediaType) -> Response[str]:
    return _respond(415, {"error": "unsupported_media_type", "message": str(error)})


@app.exception_handler(ModelUnavailable)  # type: ignore[untyped-decorator]
def _unavailable(error: ModelUnavailable) -> Response[str]:
    logger.error("model unavailable", extra={"reason": str(error)})
    return _respond(503, {"error": "model_unavailable", "message": str(error)})


@app.exception_handler(PredictionFailed)  # type: ignore[untyped-decorator]
def _prediction_failed(error: PredictionFailed) -> Response[str]:
    logger.exception("prediction failed")
    return _respond(500, {"error": "prediction_failed", "message": str(error)})


@app.not_found
def _not_found(_: Exception) -> Response[str]:
    return _respond(404, {"error": "not_found", "message": "use POST /predict or GET /health"})


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def _unexpected(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _respond(500, {"error": "internal_error", "message": "an unexpected error; quote the request id"})


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


def _body(body: str | None, base64_encoded: bool) -> bytes:
    if not body:
        return b""
    if not base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest(f"the body is marked base64 but is not: {error}") from error


def _request_id() -> str:
    return str(app.lambda_context.aws_request_id)


def _respond(status: int, body: dict[str, Any]) -> Response[str]:
    request_id = _request_id()
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        _count_server_error()
    document = {**body, "request_id": request_id}
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(document, separators=(",", ":")),
        headers={REQUEST_ID_HEADER: request_id},
    )


def _count_server_error() -> None:
    """One 5xx, by the Lambda version that answered: each version's rollout alarm reads it."""
    version = str(app.lambda_context.function_version)
    with single_metric(
        name=SERVER_ERRORS_METRIC,
        unit=MetricUnit.Count,
        value=1,
        default_dimensions={"service": SERVICE, VERSION_DIMENSION: version},
    ):
        pass  # the metric is written when the block closes, with its own dimensions


def _capture(
    model: LoadedModel,
    request_id: str,
    received: datetime,
    instances: list[dict[str, Any]],
    result: PredictionResult,
) -> None:
    """Send the request's records if it is sampled; log and count failures, never raise."""
    if sink is None or not sampler.sampled():
        return
    try:
        records = capture_records(
            model=model.name,
            version=model.version,
            request_id=request_id,
            time=received,
            instances=instances,
            result=result,
        )
        outcome = sink.put(records)
    except Exception as error:  # a capture failure never fails a prediction
        logger.warning("capture failed", extra={"reason": f"{type(error).__name__}: {error}"})
        metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=len(instances))
        return
    if outcome.failed:
        logger.warning("capture failed", extra={"failed": outcome.failed, "reason": outcome.reason})
        metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=outcome.failed)
    if outcome.delivered:
        metrics.add_metric(name="CapturedRecords", unit=MetricUnit.Count, value=outcome.delivered)

"""Each function's environment, parsed once at cold start into a typed model.

Domain code never reads os.environ: a missing or malformed variable fails the cold start
with the variable's name, not a KeyError deep in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator


class FunctionSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        return cls.model_validate(dict(os.environ if environ is None else environ))


class ValidateDatasetSettings(FunctionSettings):
    data_bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=7 * 24 * 3600, ge=48 * 3600)
    scratch_dir: str = Field(alias="SCRATCH_DIR", default="/tmp")  # noqa: S108 - Lambda's writable disk


class RegisterModelSettings(FunctionSettings):
    data_bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    registry_table: str = Field(alias="REGISTRY_TABLE", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=7 * 24 * 3600, ge=48 * 3600)
    #: Empty: no floor, every version waits for a person.
    approval_metric_floor: float | None = Field(alias="APPROVAL_METRIC_FLOOR", default=None)
    approval_min_improvement: float = Field(alias="APPROVAL_MIN_IMPROVEMENT", default=0.0, ge=0)

    @field_validator("approval_metric_floor", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value


class TrainModelSettings(FunctionSettings):
    data_bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=7 * 24 * 3600, ge=48 * 3600)
    scratch_dir: str = Field(alias="SCRATCH_DIR", default="/tmp")  # noqa: S108 - Lambda's writable disk


class PredictSettings(FunctionSettings):
    """predict: the model a published version serves (set by deploy_model), capture and limits.

    The binding variables are all optional: a version with no model bound answers 503.
    """

    data_bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    model_name: str | None = Field(alias="MODEL_NAME", default=None)
    model_version: int | None = Field(alias="MODEL_VERSION", default=None, ge=1)
    artifact_uri: str | None = Field(alias="ARTIFACT_URI", default=None)
    artifact_sha256: str | None = Field(alias="ARTIFACT_SHA256", default=None)
    manifest_uri: str | None = Field(alias="MANIFEST_URI", default=None)
    #: Firehose delivery stream of data capture; empty: nothing is captured.
    capture_stream: str | None = Field(alias="CAPTURE_STREAM", default=None)
    capture_sampling: float = Field(alias="CAPTURE_SAMPLING", default=1.0, ge=0, le=1)
    max_instances: int = Field(alias="MAX_INSTANCES", default=1000, ge=1)
    max_body_bytes: int = Field(alias="MAX_BODY_BYTES", default=5_000_000, ge=1)

    @field_validator(
        "model_name",
        "model_version",
        "artifact_uri",
        "artifact_sha256",
        "manifest_uri",
        "capture_stream",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value


class DeployModelSettings(FunctionSettings):
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    registry_table: str = Field(alias="REGISTRY_TABLE", min_length=1)
    deployments_table: str = Field(alias="DEPLOYMENTS_TABLE", min_length=1)
    predict_function: str = Field(alias="PREDICT_FUNCTION", min_length=1)
    live_alias: str = Field(alias="LIVE_ALIAS", default="live")
    deployment_strategy: str = Field(alias="DEPLOYMENT_STRATEGY", default="Canary10Percent5Minutes")
    latency_alarm_ms: float = Field(alias="LATENCY_ALARM_MS", default=1000.0, gt=0)
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", min_length=1)
    step_dead_letter_arn: str | None = Field(alias="STEP_DEAD_LETTER_ARN", default=None)
    #: Where predict's own metrics are (its ServerErrors feed each version's errors alarm).
    metrics_namespace: str = Field(alias="POWERTOOLS_METRICS_NAMESPACE", default="MLOpsBundle", min_length=1)


class CheckDriftSettings(FunctionSettings):
    data_bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    registry_table: str = Field(alias="REGISTRY_TABLE", min_length=1)
    alert_topic_arn: str = Field(alias="ALERT_TOPIC_ARN", min_length=1)
    #: ``contract``: retrain when the contract's drift.retrain says so; ``never``: no automatic retraining.
    retrain_on_drift: Literal["contract", "never"] = Field(alias="RETRAIN_ON_DRIFT", default="contract")

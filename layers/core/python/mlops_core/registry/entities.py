"""What the model registry records: versions, their lineage, alias pointers and history.

Plain frozen pydantic models with no storage knowledge; both registries (DynamoDB and the
in-memory fake) store and return exactly these. Times are UTC-aware; metric values are
finite floats within DynamoDB's number range, so whatever one backend accepts the other does.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
#: DynamoDB numbers: magnitude 1E-130 to 9.99E+125 (or zero).
_DYNAMODB_MIN, _DYNAMODB_MAX = 1e-130, 9.99e125


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
AliasName = Annotated[str, Field(pattern=ALIAS_PATTERN)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="lowercase hex SHA-256")]
VersionNumber = Annotated[int, Field(ge=1)]


class _Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelStatus(StrEnum):
    """Approval status, named as SageMaker's model registry names them."""

    PENDING_MANUAL_APPROVAL = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class HistoryAction(StrEnum):
    REGISTERED = "registered"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class Lineage(_Entity):
    """Where a version came from: the validated dataset, its contract, the code that trained it."""

    #: Unknown (None) only for a bring-your-own model whose manifest does not name its data.
    dataset_uri: str | None = Field(default=None, min_length=1)
    dataset_sha256: Sha256 | None = None
    contract_version: int = Field(ge=1)
    contract_sha256: Sha256
    training_run_id: str | None = None
    code_version: str | None = Field(default=None, description="e.g. the git commit of the training code")
    libraries: dict[str, str] = Field(default_factory=dict, description="package -> version used to train")


class ModelVersion(_Entity):
    model: ModelName
    version: VersionNumber
    status: ModelStatus
    artifact_uri: str = Field(min_length=1)
    artifact_sha256: Sha256
    manifest_uri: str = Field(min_length=1)
    baseline_uri: str | None = Field(default=None, description="drift baseline computed at training time")
    metrics: dict[str, float]
    primary_metric: str
    lineage: Lineage
    registered_at: UtcDatetime
    updated_at: UtcDatetime
    approved_by: str | None = None
    status_reason: str | None = None

    @field_validator("metrics")
    @classmethod
    def _storable_metrics(cls, metrics: dict[str, float]) -> dict[str, float]:
        for name, value in metrics.items():
            if not math.isfinite(value) or (value != 0 and not _DYNAMODB_MIN <= abs(value) <= _DYNAMODB_MAX):
                raise ValueError(
                    f"metric {name!r} is {value!r}: metrics must be finite numbers with a magnitude "
                    "between 1e-130 and 9.99e125 (or zero), the range DynamoDB stores"
                )
        return metrics

    @field_validator("primary_metric")
    @classmethod
    def _named_metric(cls, primary_metric: str, info: ValidationInfo) -> str:
        metrics = info.data.get("metrics")
        if metrics is not None and primary_metric not in metrics:
            raise ValueError(
                f"primary_metric {primary_metric!r} is not among the metrics {sorted(metrics)}; "
                "name one of them"
            )
        return primary_metric


class HistoryEntry(_Entity):
    """One approval, rejection, registration, promotion or rollback; never changed once written."""

    model: ModelName
    version: int | None = Field(default=None, ge=1)
    action: HistoryAction
    actor: str = Field(min_length=1)
    reason: str | None = None
    alias: AliasName | None = None
    from_version: int | None = Field(default=None, ge=1)
    to_version: int | None = Field(default=None, ge=1)
    at: UtcDatetime


class AliasPointer(_Entity):
    """A movable name for one version (``production``, ``staging``) and the one it replaced."""

    model: ModelName
    alias: AliasName
    version: VersionNumber
    previous_version: int | None = Field(default=None, ge=1)
    updated_at: UtcDatetime

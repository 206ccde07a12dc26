"""The bundle's own events: versioned details, and publishers that put them on the bus.

Every event the bundle emits has source ``mlops.bundle``, a detail-type named after what
happened (``DatasetValidated``) and a detail that is a versioned pydantic model. Details
stay small (well under 256 KB): anything large travels by S3 URI. Their JSON Schemas
are generated into ``infra/events/schemas/`` for consumers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

EVENT_SOURCE = "mlops.bundle"
#: PutEvents takes at most 10 entries a call.
PUT_EVENTS_BATCH = 10


class EventDetail(BaseModel):
    """Base of every detail: the detail-type is the class name, the version is in the body."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    detail_type: ClassVar[str]
    schema_version: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.detail_type = cls.__name__


class DatasetObject(BaseModel):
    """The uploaded object a run was about, pinned to its version."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int = Field(ge=0)
    sha256: str | None = Field(default=None, description="SHA-256 of the object, when it was read whole")


class DatasetValidated(EventDetail):
    """A file met its contract; a copy is under validated/ for training."""

    schema_version: Literal["1"] = "1"
    dataset: str
    run_id: str
    source: DatasetObject
    validated_uri: str
    report_uri: str
    rows: int = Field(ge=0)
    columns: list[str]
    contract_version: int
    contract_sha256: str
    validated_at: datetime


class DatasetRejected(EventDetail):
    """A file broke its contract (or had none); a copy is under quarantine/ with a report."""

    schema_version: Literal["1"] = "1"
    dataset: str
    run_id: str
    source: DatasetObject
    quarantine_uri: str | None = Field(
        description="None only when the object was gone before it could be copied"
    )
    report_uri: str
    reason: str = Field(description="one line for humans; the report has every violation")
    violations: dict[str, int] = Field(description="violation kind -> count; values never appear here")
    contract_version: int | None = None
    rejected_at: datetime


class ModelTrained(EventDetail):
    """A model was trained from a validated dataset; its artifact and manifest are under models/."""

    schema_version: Literal["1"] = "1"
    model: str
    training_run_id: str
    dataset: str
    dataset_uri: str
    dataset_sha256: str | None = None
    artifact_uri: str
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    manifest_uri: str
    baseline_uri: str
    primary_metric: str
    metrics: dict[str, float]
    trained_at: datetime


class ModelRegistered(EventDetail):
    """A verified model has a version in the registry, pending a decision."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    artifact_uri: str
    artifact_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    primary_metric: str
    metrics: dict[str, float]
    source: Literal["trained", "uploaded"]
    registered_at: datetime


class ModelApproved(EventDetail):
    """A version may be deployed: by the approval policy or by a person."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    approved_by: str = Field(description="'policy' or the person's identity")
    reason: str
    approved_at: datetime


class ModelRejected(EventDetail):
    """A version must not be deployed: it failed verification, the policy or a reviewer."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int | None = Field(description="None when the upload was refused before it got a version")
    rejected_by: str
    reason: str
    artifact_uri: str | None = None
    rejected_at: datetime


class RetrainRequested(EventDetail):
    """Train the dataset's model again (emitted by the drift check, or by hand)."""

    schema_version: Literal["1"] = "1"
    dataset: str
    dataset_uri: str = Field(description="the validated data to train on")
    reason: str
    requested_at: datetime


class DeploymentRequested(EventDetail):
    """Deploy this approved version (emitted by `mlops models promote` and the like)."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    strategy: str | None = Field(default=None, description="None: the stack's DeploymentStrategy")
    requested_by: str
    requested_at: datetime


class ModelDeployed(EventDetail):
    """The live alias serves this model version on all of its traffic."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    function_version: str = Field(description="the predict Lambda version bound to the model version")
    previous_function_version: str | None = None
    strategy: str
    deployment_id: str
    deployed_at: datetime


class DeploymentRolledBack(EventDetail):
    """A rollout was stopped and the live alias returned to the previous version."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    function_version: str
    restored_function_version: str | None
    reason: str
    deployment_id: str
    rolled_back_at: datetime


class DriftCheckRequested(EventDetail):
    """Check these models' drift now (emitted by `mlops drift run`)."""

    schema_version: Literal["1"] = "1"
    models: list[str] | None = Field(default=None, description="None: every model in the registry")
    run_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="names the run and its reports")
    requested_by: str
    requested_at: datetime


class DriftChecked(EventDetail):
    """A production model's captured traffic was compared with its training baseline."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    run_id: str
    subject: Literal["traffic", "training_data"] = Field(
        default="traffic",
        description="traffic: the captured window; training_data: a newly validated file of the dataset",
    )
    status: Literal["ok", "drift", "insufficient_data"]
    drift_share: float | None = Field(default=None, description="drifted / tested features")
    drifted_features: list[str]
    confirmed: bool = Field(description="K of the last N checks of this version drifted")
    report_uri: str
    checked_at: datetime


class DriftDetected(EventDetail):
    """A drift was confirmed (K of the last N checks drifted); sent once per confirmation."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    dataset: str
    run_id: str
    drift_share: float
    drifted_features: list[str]
    recent: list[bool] = Field(description="the verdicts of the last checks, oldest first")
    report_uri: str
    html_report_uri: str | None = None
    retrain_requested: bool
    detected_at: datetime


class ModelQualityDegraded(EventDetail):
    """On labelled traffic, the production version's metric fell beyond its threshold (K of N checks)."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int = Field(ge=1)
    dataset: str | None = None
    run_id: str
    metric: str
    value: float = Field(description="the metric on the window's labelled traffic")
    registered: float = Field(description="the metric registered at training")
    drop: float = Field(description="how much worse the window is (a rise, for rmse, mae and log_loss)")
    max_drop: float
    labels: int = Field(ge=0, description="ground-truth labels joined with captured predictions")
    recent: list[bool] = Field(description="the verdicts of the last checks, oldest first")
    report_uri: str
    detected_at: datetime


EVENT_DETAILS: tuple[type[EventDetail], ...] = (
    DatasetValidated,
    DatasetRejected,
    ModelTrained,
    ModelRegistered,
    ModelApproved,
    ModelRejected,
    RetrainRequested,
    DeploymentRequested,
    ModelDeployed,
    DeploymentRolledBack,
    DriftCheckRequested,
    DriftChecked,
    DriftDetected,
    ModelQualityDegraded,
)


class EventPublisher(Protocol):
    def publish(self, details: Sequence[EventDetail]) -> None: ...


class PublishError(RuntimeError):
    """EventBridge refused some entries; raised so the invocation is retried."""


class EventBridgePublisher:
    """Puts details on one event bus, ten at a time, and fails loudly on partial failure."""

    def __init__(self, client: Any, bus_name: str, resources: Sequence[str] = ()) -> None:
        self._client = client
        self._bus_name = bus_name
        self._resources = list(resources)

    def publish(self, details: Sequence[EventDetail]) -> None:
        for start in range(0, len(details), PUT_EVENTS_BATCH):
            entries = [self._entry(d) for d in details[start : start + PUT_EVENTS_BATCH]]
            response = self._client.put_events(Entries=entries)
            if response.get("FailedEntryCount", 0):
                failures = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
                raise PublishError(f"EventBridge refused {len(failures)} event(s): {failures}")

    def _entry(self, detail: EventDetail) -> dict[str, Any]:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": detail.detail_type,
            "Detail": detail.model_dump_json(),
            "EventBusName": self._bus_name,
            "Resources": self._resources,
        }


class InMemoryPublisher:
    """Keeps published details in a list: the fake for unit tests and the local CLI."""

    def __init__(self) -> None:
        self.published: list[EventDetail] = []

    def publish(self, details: Sequence[EventDetail]) -> None:
        self.published.extend(details)

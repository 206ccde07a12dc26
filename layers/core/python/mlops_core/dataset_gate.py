"""The data gate: an uploaded file is validated against its contract, then moves on or is quarantined.

This is the domain side of ``validate_dataset``. It knows no boto3 and no Lambda: it gets
an :class:`ObjectStore` and an :class:`EventPublisher` and returns a :class:`GateOutcome`.
The uploaded object is only ever read (pinned to its version), never changed or deleted,
so nothing is lost on any path. Bad data never raises; only storage and bus errors do,
so that the invocation is retried.
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict

from mlops_core.contracts import ContractError, DataContract, DataFormat, contract_key, load_contract
from mlops_core.events import DatasetObject, DatasetRejected, DatasetValidated, EventDetail, EventPublisher
from mlops_core.object_store import ObjectMissing, ObjectStore
from mlops_core.validation import (
    SourceInfo,
    ValidationReport,
    Violation,
    ViolationKind,
    ViolationSample,
    validate_csv_stream,
    validate_file,
)

INCOMING = "incoming"
VALIDATED = "validated"
QUARANTINE = "quarantine"
REPORTS = "reports/validation"
UNKNOWN_DATASET = "_unknown"


class UploadedObject(DatasetObject):
    """An object created under incoming/, as the S3 event named it (key already decoded)."""

    event_time: datetime

    @staticmethod
    def decode_key(raw_key: str) -> str:
        """S3 URL-encodes keys in its events ("red flower.csv" -> "red+flower.csv"). Decoded here only."""
        return unquote_plus(raw_key)

    @property
    def dataset(self) -> str | None:
        """``incoming/<dataset>/<file>`` -> dataset, or None when the key has no dataset folder."""
        parts = PurePosixPath(self.key).parts
        if len(parts) < 3 or parts[0] != INCOMING:
            return None
        return parts[1]

    @property
    def relative_name(self) -> str:
        """The key below incoming/<dataset>/, kept in the copies so users recognise their file."""
        parts = PurePosixPath(self.key).parts
        return "/".join(parts[2:]) if len(parts) >= 3 else PurePosixPath(self.key).name

    @property
    def run_id(self) -> str:
        """Same upload, same run id: a retried run writes to the same keys, never twice."""
        identity = f"{self.bucket}/{self.key}/{self.version_id}/{self.etag}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
        return f"{self.event_time.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


class GateOutcome(BaseModel):
    """What the gate decided, returned by the function (and cached by idempotency)."""

    model_config = ConfigDict(extra="forbid")
    dataset: str
    run_id: str
    valid: bool
    destination_uri: str | None
    report_uri: str
    rows: int
    violations: dict[str, int]
    reason: str
    seconds: float
    bytes: int


def gate_upload(
    upload: UploadedObject,
    store: ObjectStore,
    publisher: EventPublisher,
    *,
    scratch_dir: Path | None = None,
) -> GateOutcome:
    """Validate one upload, copy it to validated/ or quarantine/, write the report, publish the event."""
    dataset = upload.dataset
    run_id = upload.run_id
    name = dataset if dataset is not None else UNKNOWN_DATASET
    source = SourceInfo(
        uri=store.uri(upload.key),
        format=_format_of(upload.key),
        bytes=upload.size,
        version_id=upload.version_id,
        etag=upload.etag,
    )
    contract: DataContract | None = None
    if dataset is None:
        report = _rejection(
            name,
            source,
            ViolationKind.CONTRACT_MISSING,
            f"uploads go under {INCOMING}/<dataset>/<file>; {upload.key!r} names no dataset",
        )
    else:
        loaded = _load_contract(store, dataset, source)
        if isinstance(loaded, DataContract):
            contract = loaded
            report = _validate(upload, store, contract, source, scratch_dir)
        else:
            report = loaded
    return _conclude(
        upload, store, publisher=publisher, dataset=name, run_id=run_id, report=report, contract=contract
    )


def _load_contract(store: ObjectStore, dataset: str, source: SourceInfo) -> DataContract | ValidationReport:
    """The dataset's contract, or the report that rejects the upload for want of one."""
    key = contract_key(dataset)
    try:
        text = store.read_text(key)
    except ObjectMissing:
        return _rejection(
            dataset,
            source,
            ViolationKind.CONTRACT_MISSING,
            f"no data contract at {store.uri(key)}: upload one (see docs/contracts.md)",
        )
    try:
        contract = load_contract(text, source=store.uri(key))
    except ContractError as error:
        samples = [ViolationSample(line=None, value=e.field, detail=e.message) for e in error.errors[:20]]
        return _rejection(
            dataset,
            source,
            ViolationKind.CONTRACT_INVALID,
            f"the data contract {store.uri(key)} is invalid; fix the fields listed",
            samples=samples,
        )
    if contract.dataset != dataset:
        return _rejection(
            dataset,
            source,
            ViolationKind.CONTRACT_INVALID,
            f"{store.uri(key)} says dataset {contract.dataset!r}, expected {dataset!r}",
        )
    return contract


def _validate(
    upload: UploadedObject,
    store: ObjectStore,
    contract: DataContract,
    source: SourceInfo,
    scratch_dir: Path | None,
) -> ValidationReport:
    source.format = contract.format.value
    if upload.size > contract.max_bytes or upload.size == 0:
        # Refused from the event's size alone: the object is never downloaded.
        return validate_csv_stream(_NoBytes(), contract, source=source)
    try:
        if contract.format is DataFormat.PARQUET:
            # Parquet needs random access to its footer: use the function's /tmp, bounded by max_bytes.
            with tempfile.TemporaryDirectory(dir=scratch_dir) as folder:
                local = Path(folder) / "object.parquet"
                store.download(upload.key, upload.version_id, local)
                report = validate_file(local, contract, uri=source.uri)
                report.source.version_id, report.source.etag = upload.version_id, upload.etag
                return report
        return validate_csv_stream(store.open(upload.key, upload.version_id), contract, source=source)
    except ObjectMissing:
        return _rejection(
            contract.dataset,
            source,
            ViolationKind.OBJECT_MISSING,
            "the object was deleted before it could be validated",
        )


def _conclude(
    upload: UploadedObject,
    store: ObjectStore,
    *,
    publisher: EventPublisher,
    dataset: str,
    run_id: str,
    report: ValidationReport,
    contract: DataContract | None,
) -> GateOutcome:
    report_key = f"{REPORTS}/{dataset}/{run_id}.json"
    area = VALIDATED if report.valid else QUARANTINE
    destination: str | None = f"{area}/{dataset}/{run_id}/{upload.relative_name}"
    try:
        store.copy(upload.key, upload.version_id, destination or "")
    except ObjectMissing:
        destination = None
        if report.valid:
            report = report.model_copy(update={"valid": False})
            report.violations.append(
                Violation(
                    kind=ViolationKind.OBJECT_MISSING,
                    count=1,
                    message="the object was deleted before it could be copied",
                )
            )
    store.put_json(report_key, report.model_dump_json(indent=2))
    destination_uri = store.uri(destination) if destination else None
    obj = DatasetObject.model_validate(
        upload.model_dump(exclude={"event_time"}) | {"sha256": report.source.sha256}
    )
    counts = report.counts_by_kind()
    now = datetime.now(UTC)
    if report.valid and contract is not None and destination_uri is not None:
        reason = f"{report.rows} rows met contract v{contract.version}"
        event: EventDetail = DatasetValidated(
            dataset=dataset,
            run_id=run_id,
            source=obj,
            validated_uri=destination_uri,
            report_uri=store.uri(report_key),
            rows=report.rows,
            columns=report.columns,
            contract_version=contract.version,
            contract_sha256=contract.fingerprint(),
            validated_at=now,
        )
    else:
        reason = _reason(report)
        event = DatasetRejected(
            dataset=dataset,
            run_id=run_id,
            source=obj,
            quarantine_uri=destination_uri,
            report_uri=store.uri(report_key),
            reason=reason,
            violations=counts,
            contract_version=contract.version if contract else None,
            rejected_at=now,
        )
    # Published last: a run that fails before this point is retried and announces once.
    publisher.publish([event])
    return GateOutcome(
        dataset=dataset,
        run_id=run_id,
        valid=report.valid,
        destination_uri=destination_uri,
        report_uri=store.uri(report_key),
        rows=report.rows,
        violations=counts,
        reason=reason,
        seconds=report.seconds,
        bytes=upload.size,
    )


def _reason(report: ValidationReport) -> str:
    if not report.violations:
        return "rejected"
    first = report.violations[0]
    others = report.violation_count - first.count
    tail = f" (and {others} more violation{'s' if others != 1 else ''})" if others > 0 else ""
    column = f"{first.column}: " if first.column else ""
    return f"{column}{first.message}{tail}"


def _rejection(
    dataset: str,
    source: SourceInfo,
    kind: ViolationKind,
    message: str,
    samples: list[ViolationSample] | None = None,
) -> ValidationReport:
    now = datetime.now(UTC)
    return ValidationReport(
        dataset=dataset,
        source=source,
        valid=False,
        rows=0,
        started_at=now,
        finished_at=now,
        seconds=0.0,
        violations=[Violation(kind=kind, count=1, message=message, samples=samples or [])],
    )


def _format_of(key: str) -> str:
    return "parquet" if key.endswith(".parquet") else "csv"


class _NoBytes:
    """A stream that is never read: the size checks refuse the object first."""

    def read(self, size: int = -1, /) -> bytes:
        raise AssertionError("refused objects are never read")

"""Data capture: what a prediction saw and answered, sent to Kinesis Data Firehose.

One record per instance (not per request): a Firehose record is at most 1,000 KiB, so a
large batch would not fit in one; and one line per prediction is what the drift checks and
a join with ground-truth labels (on ``request_id`` and ``index``) read. Only the features
as checked are captured: unknown request keys are dropped before, and pii columns are never
features. Sampling is per request, so a captured request is captured whole.

A sink never raises: it reports how many records it could not deliver and the function
logs and counts them (CaptureFailures). A capture failure never fails a prediction.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mlops_core.prediction import PredictionResult

#: Firehose PutRecordBatch limits: records per call, bytes per call, bytes per record.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024


@dataclass(frozen=True)
class CaptureRecord:
    """One instance of one request, with its output; a line of JSON in S3."""

    model: str
    version: int | None
    request_id: str
    time: datetime
    index: int
    features: Mapping[str, Any]
    prediction: Any
    probabilities: Mapping[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "request_id": self.request_id,
            "time": self.time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "index": self.index,
            "features": dict(self.features),
            "prediction": self.prediction,
            "probabilities": dict(self.probabilities) if self.probabilities is not None else None,
        }

    def to_line(self) -> bytes:
        """Newline-delimited JSON: Firehose concatenates records as they are."""
        return (json.dumps(self.as_dict(), separators=(",", ":"), allow_nan=False) + "\n").encode()


def capture_records(
    *,
    model: str,
    version: int | None,
    request_id: str,
    time: datetime,
    instances: Sequence[Mapping[str, Any]],
    result: PredictionResult,
) -> list[CaptureRecord]:
    """The records of one request: instances as checked, outputs in the same order."""
    probabilities: Sequence[Mapping[str, float] | None] = result.probabilities or [None] * len(instances)
    return [
        CaptureRecord(
            model=model,
            version=version,
            request_id=request_id,
            time=time,
            index=index,
            features=instance,
            prediction=prediction,
            probabilities=proba,
        )
        for index, (instance, prediction, proba) in enumerate(
            zip(instances, result.predictions, probabilities, strict=True)
        )
    ]


@dataclass
class Sampler:
    """Decides per request whether it is captured: ``random() < rate``."""

    rate: float
    random: Callable[[], float] = field(default=random.random)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"the sampling rate must be between 0 and 1, not {self.rate}")

    def sampled(self) -> bool:
        return self.rate > 0.0 and self.random() < self.rate


@dataclass(frozen=True)
class CaptureOutcome:
    delivered: int
    failed: int = 0
    #: Why records failed (the first reason), for the log.
    reason: str | None = None


class CaptureSink(Protocol):
    def put(self, records: Sequence[CaptureRecord]) -> CaptureOutcome:
        """Deliver the records; never raise, report failures in the outcome."""
        ...


class FirehoseCaptureSink:
    """PutRecordBatch to one delivery stream through a boto3 Firehose client."""

    def __init__(
        self,
        client: Any,
        stream: str,
        *,
        max_batch_records: int = MAX_BATCH_RECORDS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._client = client
        self.stream = stream
        self._max_records = max_batch_records
        self._max_bytes = max_batch_bytes

    def put(self, records: Sequence[CaptureRecord]) -> CaptureOutcome:
        delivered = failed = 0
        reasons: list[str] = []
        batches, oversized = self._batches(records)
        if oversized:
            failed += oversized
            reasons.append(f"{oversized} record(s) not JSON or over Firehose's {MAX_RECORD_BYTES} bytes")
        for batch in batches:
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self.stream, Records=[{"Data": data} for data in batch]
                )
            except Exception as error:  # a capture failure never fails a prediction
                failed += len(batch)
                reasons.append(f"{type(error).__name__}: {error}")
                continue
            count = int(response.get("FailedPutCount", 0))
            failed += count
            delivered += len(batch) - count
            if count:
                codes = {
                    r.get("ErrorCode") for r in response.get("RequestResponses", []) if r.get("ErrorCode")
                }
                reasons.append(f"FailedPutCount {count} ({', '.join(sorted(map(str, codes))) or 'no code'})")
        return CaptureOutcome(delivered=delivered, failed=failed, reason="; ".join(reasons) or None)

    def _batches(self, records: Sequence[CaptureRecord]) -> tuple[list[list[bytes]], int]:
        batches: list[list[bytes]] = []
        current: list[bytes] = []
        size = oversized = 0
        for record in records:
            try:
                data = record.to_line()
            except (TypeError, ValueError):  # not JSON-serialisable: counted, never raised
                oversized += 1
                continue
            if len(data) > MAX_RECORD_BYTES:
                oversized += 1
                continue
            if current and (len(current) >= self._max_records or size + len(data) > self._max_bytes):
                batches.append(current)
                current, size = [], 0
            current.append(data)
            size += len(data)
        if current:
            batches.append(current)
        return batches, oversized


def now() -> datetime:
    return datetime.now(UTC)

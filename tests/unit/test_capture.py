"""Data capture: sampled per request, features only, and a sink that never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_core.capture import (
    CaptureRecord,
    FirehoseCaptureSink,
    Sampler,
    capture_records,
)
from mlops_core.contracts import ColumnType
from mlops_core.prediction import PredictionResult, check_instances
from mlops_core.training.manifest import FeatureField

FIELDS = [
    FeatureField(name="tenure_months", type=ColumnType.INTEGER, encoding="numeric", min=0),
    FeatureField(name="plan", type=ColumnType.CATEGORY, encoding="category", allowed=["basic", "pro"]),
]
WHEN = datetime(2026, 11, 5, 9, 15, 0, 123456, tzinfo=UTC)


def _records(count: int = 2) -> list[CaptureRecord]:
    request = [
        {"tenure_months": i, "plan": "pro", "email": "ana@example.com", "customer_id": "C000001"}
        for i in range(count)
    ]
    instances = check_instances(request, FIELDS)
    result = PredictionResult(
        predictions=[True] * count, probabilities=[{"false": 0.25, "true": 0.75}] * count
    )
    return capture_records(
        model="churn", version=4, request_id="req-1", time=WHEN, instances=instances, result=result
    )


def test_rate_zero_never_samples_and_rate_one_always_does() -> None:
    assert not any(Sampler(0.0).sampled() for _ in range(1000))
    assert all(Sampler(1.0).sampled() for _ in range(1000))
    assert Sampler(0.5, random=lambda: 0.49).sampled()
    assert not Sampler(0.5, random=lambda: 0.5).sampled()
    with pytest.raises(ValueError, match="between 0 and 1"):
        Sampler(1.5)


def test_a_record_holds_features_only_never_pii_or_unknown_fields() -> None:
    first, second = _records()
    line = first.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    document = json.loads(line)
    assert document == {
        "model": "churn",
        "version": 4,
        "request_id": "req-1",
        "time": "2026-11-05T09:15:00.123Z",
        "index": 0,
        "features": {"tenure_months": 0, "plan": "pro"},
        "prediction": True,
        "probabilities": {"false": 0.25, "true": 0.75},
    }
    assert b"example.com" not in line and b"C000001" not in line
    assert second.index == 1


class _Firehose:
    def __init__(self, *, fail_with: Exception | None = None, failed_put_count: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_with = fail_with
        self.failed_put_count = failed_put_count

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        self.calls.append({"stream": DeliveryStreamName, "records": Records})
        if self.fail_with is not None:
            raise self.fail_with
        responses: list[dict[str, Any]] = [{"RecordId": str(i)} for i in range(len(Records))]
        for r in responses[: self.failed_put_count]:
            r.update(ErrorCode="ServiceUnavailableException", ErrorMessage="slow down")
        return {"FailedPutCount": self.failed_put_count, "RequestResponses": responses}


def test_firehose_sink_sends_newline_delimited_json_in_batches() -> None:
    client = _Firehose()
    sink = FirehoseCaptureSink(client, "capture-stream", max_batch_records=2)
    outcome = sink.put(_records(5))
    assert (outcome.delivered, outcome.failed, outcome.reason) == (5, 0, None)
    assert [len(c["records"]) for c in client.calls] == [2, 2, 1]
    assert {c["stream"] for c in client.calls} == {"capture-stream"}
    data = b"".join(r["Data"] for c in client.calls for r in c["records"])
    assert [json.loads(line)["index"] for line in data.splitlines()] == [0, 1, 2, 3, 4]


def test_firehose_sink_splits_batches_by_bytes() -> None:
    client = _Firehose()
    one = len(_records(1)[0].to_line())
    FirehoseCaptureSink(client, "s", max_batch_bytes=one * 2 + 1).put(_records(3))
    assert [len(c["records"]) for c in client.calls] == [2, 1]


def test_firehose_sink_swallows_exceptions_and_counts_failed_puts() -> None:
    raising = FirehoseCaptureSink(_Firehose(fail_with=RuntimeError("no network")), "s")
    outcome = raising.put(_records(3))
    assert (outcome.delivered, outcome.failed) == (0, 3)
    assert outcome.reason == "RuntimeError: no network"

    partial = FirehoseCaptureSink(_Firehose(failed_put_count=1), "s").put(_records(3))
    assert (partial.delivered, partial.failed) == (2, 1)
    assert partial.reason is not None and "ServiceUnavailableException" in partial.reason


def test_a_record_that_is_not_json_is_counted_not_raised() -> None:
    [record] = _records(1)
    bad = CaptureRecord(**{**record.__dict__, "prediction": object()})
    outcome = FirehoseCaptureSink(_Firehose(), "s").put([bad, record])
    assert (outcome.delivered, outcome.failed) == (1, 1)

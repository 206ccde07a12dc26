"""Reading a window of captured predictions: GZIP or plain lines, by day, sampled, never fatal."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops_core.capture import CaptureRecord
from mlops_core.drift.window import capture_prefixes, read_capture_window
from mlops_core.object_store import S3ObjectStore
from tests.unit.fakes import InMemoryObjectStore


def lines(model: str, version: int | None, values: range, day: int = 5) -> bytes:
    records = [
        CaptureRecord(
            model=model,
            version=version,
            request_id=f"req-{value}",
            time=datetime(2026, 11, day, 9, 0, tzinfo=UTC),
            index=0,
            features={"tenure_months": value, "plan": "pro"},
            prediction=True,
        )
        for value in values
    ]
    return b"".join(record.to_line() for record in records)


def tenures(instances: list[dict[str, Any]]) -> list[int]:
    return sorted(instance["tenure_months"] for instance in instances)


def test_prefixes_cover_every_day_of_the_window() -> None:
    assert capture_prefixes("churn", date(2026, 11, 30), date(2026, 12, 1)) == [
        "capture/churn/dt=2026-11-30/",
        "capture/churn/dt=2026-12-01/",
    ]
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        capture_prefixes("churn", date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValueError, match="at most 366"):
        capture_prefixes("churn", date(2025, 1, 1), date(2026, 12, 1))
    with pytest.raises(ValueError, match="capture prefix"):
        capture_prefixes("a/b", date(2026, 12, 1), date(2026, 12, 1))


def test_gzip_and_plain_objects_in_the_window_are_read_and_other_days_are_not() -> None:
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/part-1.gz", gzip.compress(lines("churn", 1, range(0, 50))))
    store.put("capture/churn/dt=2026-11-06/part-2", lines("churn", 1, range(50, 70), day=6))
    store.put("capture/churn/dt=2026-11-07/part-3.gz", gzip.compress(lines("churn", 1, range(70, 80), day=7)))
    store.put("capture/churner/dt=2026-11-05/part-4.gz", gzip.compress(lines("churner", 1, range(80, 90))))

    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6))

    assert (window.files, window.records, window.malformed) == (2, 70, 0)
    assert tenures(window.instances) == list(range(70))
    assert window.versions == {1: 70}
    assert not window.sampled


def test_concatenated_gzip_members_are_all_read() -> None:
    store = InMemoryObjectStore()
    body = gzip.compress(lines("churn", 1, range(10))) + gzip.compress(lines("churn", 1, range(10, 25)))
    store.put("capture/churn/dt=2026-11-05/part.gz", body)
    assert tenures(
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5)).instances
    ) == list(range(25))


def test_malformed_lines_are_counted_and_skipped() -> None:
    store = InMemoryObjectStore()
    body = (
        lines("churn", 1, range(3))
        + b"not json\n"
        + b"[1, 2]\n"
        + b'{"model": "churn", "version": 1, "features": "x"}\n'
        + b'{"model": "churn", "version": "1", "features": {}}\n'
        + b"\n"
        + lines("churn", 1, range(3, 5))
    )
    store.put("capture/churn/dt=2026-11-05/part", body.rstrip(b"\n"))  # no final newline
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert window.malformed == 4
    assert tenures(window.instances) == [0, 1, 2, 3, 4]


def test_one_version_can_be_selected() -> None:
    store = InMemoryObjectStore()
    store.put(
        "capture/churn/dt=2026-11-05/a", lines("churn", 1, range(10)) + lines("churn", 2, range(10, 14))
    )
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), version=2)
    assert tenures(window.instances) == [10, 11, 12, 13]
    assert window.versions == {2: 4}


def test_large_windows_are_sampled_uniformly_and_repeatably() -> None:
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/a", lines("churn", 1, range(0, 5000)))
    store.put("capture/churn/dt=2026-11-06/b", lines("churn", 1, range(5000, 10000), day=6))
    first = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=1000)
    again = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=1000)
    assert len(first.instances) == 1000 and first.records == 10000 and first.sampled
    assert tenures(first.instances) == tenures(again.instances)
    second_day = sum(1 for value in tenures(first.instances) if value >= 5000)
    assert 400 < second_day < 600  # both days are represented, not just the first one read
    with pytest.raises(ValueError, match="max_instances"):
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=0)


@mock_aws
def test_the_s3_store_lists_keys_under_a_prefix() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="data")
    client.put_object(
        Bucket="data",
        Key="capture/churn/dt=2026-11-05/a.gz",
        Body=gzip.compress(lines("churn", 3, range(40))),
    )
    client.put_object(
        Bucket="data", Key="capture/churn/dt=2026-11-05/b", Body=lines("churn", 3, range(40, 45))
    )
    client.put_object(
        Bucket="data", Key="capture/churn/dt=2026-11-06/c", Body=lines("churn", 3, range(99, 100))
    )
    store = S3ObjectStore(client, "data")
    assert list(store.list_keys("capture/churn/dt=2026-11-05/")) == [
        "capture/churn/dt=2026-11-05/a.gz",
        "capture/churn/dt=2026-11-05/b",
    ]
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert tenures(window.instances) == list(range(45))


def test_reading_and_comparing_a_window_imports_neither_pandas_nor_pyarrow() -> None:
    """The drift check's cold start: the baseline is read, never computed, so no dataframe stack."""
    code = (
        "import sys\n"
        "import mlops_core.drift_check, mlops_core.drift.window, mlops_core.object_store\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn', 'scipy') if m in sys.modules))\n"
    )
    core = Path(__file__).resolve().parents[2] / "layers" / "core" / "python"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(core)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"

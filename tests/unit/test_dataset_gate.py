"""The data gate's decisions, with in-memory storage and bus: no AWS, no sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NoReturn

import pytest

from mlops_core.dataset_gate import GateOutcome, UploadedObject, gate_upload
from mlops_core.events import DatasetRejected, DatasetValidated, InMemoryPublisher

from ..conftest import CHURN_COLUMNS, CHURN_HEADER, GOOD_ROWS
from .fakes import InMemoryObjectStore

CONTRACT = "dataset: churn\ncolumns:\n" + "".join(f"  - {json.dumps(c)}\n" for c in CHURN_COLUMNS)
GOOD = ("\n".join([CHURN_HEADER, *GOOD_ROWS]) + "\n").encode()
WHEN = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _upload(store: InMemoryObjectStore, key: str, body: bytes) -> UploadedObject:
    version = store.put(key, body)
    return UploadedObject(
        bucket=store.bucket,
        key=key,
        version_id=version,
        etag=f"etag-{version}",
        size=len(body),
        event_time=WHEN,
    )


def _gate(store: InMemoryObjectStore, upload: UploadedObject) -> tuple[GateOutcome, InMemoryPublisher]:
    publisher = InMemoryPublisher()
    return gate_upload(upload, store, publisher), publisher


def test_the_dataset_is_the_folder_under_incoming() -> None:
    def upload(key: str) -> UploadedObject:
        return UploadedObject(bucket="b", key=key, size=1, event_time=WHEN)

    assert upload("incoming/churn/a.csv").dataset == "churn"
    assert upload("incoming/churn/2026/11/a.csv").relative_name == "2026/11/a.csv"
    assert upload("incoming/a.csv").dataset is None
    assert upload("elsewhere/churn/a.csv").dataset is None


def test_keys_are_decoded_once_as_s3_encodes_them() -> None:
    assert (
        UploadedObject.decode_key("incoming/churn/red+flower%282%29.csv")
        == "incoming/churn/red flower(2).csv"
    )


def test_the_run_id_is_the_same_for_the_same_upload_and_differs_by_version() -> None:
    first = UploadedObject(
        bucket="b", key="incoming/c/a.csv", version_id="1", etag="e", size=1, event_time=WHEN
    )
    again = first.model_copy()
    other = first.model_copy(update={"version_id": "2"})

    assert first.run_id == again.run_id
    assert first.run_id != other.run_id
    assert first.run_id.startswith("20261127T120000Z-")


def test_a_valid_upload_is_copied_at_its_version_and_announced() -> None:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CONTRACT.encode())
    upload = _upload(store, "incoming/churn/a.csv", GOOD)
    store.put("incoming/churn/a.csv", b"a later upload of the same key")

    outcome, publisher = _gate(store, upload)

    assert outcome.valid
    assert store.copies == [("incoming/churn/a.csv", "1", f"validated/churn/{outcome.run_id}/a.csv")]
    [event] = publisher.published
    assert isinstance(event, DatasetValidated)
    assert (event.rows, event.source.version_id) == (3, "1")


def test_a_file_outside_a_dataset_folder_is_quarantined_under_unknown() -> None:
    store = InMemoryObjectStore()
    upload = _upload(store, "incoming/loose.csv", GOOD)

    outcome, publisher = _gate(store, upload)

    assert outcome.violations == {"contract_missing": 1}
    assert store.keys("quarantine/") == [f"quarantine/_unknown/{outcome.run_id}/loose.csv"]
    assert isinstance(publisher.published[0], DatasetRejected)


def test_a_contract_for_another_dataset_is_refused() -> None:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CONTRACT.replace("dataset: churn", "dataset: orders").encode())

    outcome, _ = _gate(store, _upload(store, "incoming/churn/a.csv", GOOD))

    assert outcome.violations == {"contract_invalid": 1}
    assert "says dataset 'orders'" in outcome.reason


def test_an_object_deleted_before_validation_is_reported_not_raised() -> None:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CONTRACT.encode())
    upload = UploadedObject(
        bucket="data", key="incoming/churn/gone.csv", version_id="1", size=10, event_time=WHEN
    )

    outcome, publisher = _gate(store, upload)

    assert outcome.violations == {"object_missing": 1}
    assert outcome.destination_uri is None
    rejected = publisher.published[0]
    assert isinstance(rejected, DatasetRejected) and rejected.quarantine_uri is None
    assert store.keys("reports/") == [f"reports/validation/churn/{outcome.run_id}.json"]


def test_the_rejection_reason_names_the_column_and_counts_the_rest() -> None:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CONTRACT.encode())
    body = (CHURN_HEADER + "\nC000001,-1,-2.0,gold,2024-01-01,true\n").encode()

    outcome, _ = _gate(store, _upload(store, "incoming/churn/bad.csv", body))

    assert outcome.reason == "tenure_months: values below min 0 (and 2 more violations)"


@pytest.mark.parametrize("size", [0, 10**12])
def test_sizes_from_the_event_are_refused_before_any_read(size: int) -> None:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CONTRACT.encode())
    upload = UploadedObject(
        bucket="data", key="incoming/churn/x.csv", version_id="1", size=size, event_time=WHEN
    )
    store.put("incoming/churn/x.csv", b"")

    def unread(*_: object) -> NoReturn:
        raise AssertionError("the upload was read")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "open", unread)
        patch.setattr(store, "download", unread)
        outcome, _ = _gate(store, upload)

    assert outcome.violations == ({"empty_file": 1} if size == 0 else {"object_too_large": 1})

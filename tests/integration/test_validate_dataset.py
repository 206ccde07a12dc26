"""validate_dataset on moto: real S3 events in, copies, reports and bus events out."""

from __future__ import annotations

import copy
import json
from types import ModuleType
from typing import Any

import pytest

from mlops_cli.lambda_runtime import LocalLambdaContext

from ..conftest import CHURN_COLUMNS, CHURN_HEADER, GOOD_ROWS
from .conftest import BUCKET, GateStack, sample_event

pytestmark = pytest.mark.integration

CONTRACT = "dataset: churn\nmin_rows: 1\ncolumns:\n" + "".join(
    f"  - {json.dumps(column)}\n" for column in CHURN_COLUMNS
)
GOOD = ("\n".join([CHURN_HEADER, *GOOD_ROWS]) + "\n").encode()
BAD = (
    "\n".join([CHURN_HEADER, GOOD_ROWS[0], "C000002,-4,1.0,gold,2024-01-01,true", "C000003,1"]) + "\n"
).encode()


def _upload(stack: GateStack, key: str, body: bytes) -> dict[str, Any]:
    """Put the object and return the S3 -> EventBridge event moto emitted for it."""
    stack.put_object(key, body)
    created = {
        n["id"]: n
        for n in stack.s3_notifications()
        if n["detail-type"] == "Object Created" and n["detail"]["object"]["key"] == key
    }
    assert len(created) == 1, created
    return next(iter(created.values()))


def test_a_valid_upload_is_copied_reported_and_announced(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    stack.put_contract("churn", CONTRACT)
    event = _upload(stack, "incoming/churn/2026-11.csv", GOOD)

    result = validate_dataset.lambda_handler(event, context)

    assert result["valid"] is True
    run_id = result["run_id"]
    assert stack.keys("validated/") == [f"validated/churn/{run_id}/2026-11.csv"]
    assert stack.keys("quarantine/") == []
    copied = stack.s3.get_object(Bucket=BUCKET, Key=f"validated/churn/{run_id}/2026-11.csv")["Body"].read()
    assert copied == GOOD
    report = stack.read_json(f"reports/validation/churn/{run_id}.json")
    assert (report["valid"], report["rows"], report["dataset"]) == (True, 3, "churn")
    [published] = stack.published()
    assert published["detail-type"] == "DatasetValidated"
    assert published["source"] == "mlops.bundle"
    detail = published["detail"]
    assert detail["validated_uri"] == f"s3://{BUCKET}/validated/churn/{run_id}/2026-11.csv"
    assert detail["report_uri"] == f"s3://{BUCKET}/reports/validation/churn/{run_id}.json"
    assert detail["rows"] == 3 and detail["source"]["sha256"] == report["source"]["sha256"]
    assert detail["source"]["version_id"] == event["detail"]["object"]["version-id"]


def test_an_invalid_upload_is_quarantined_with_a_report_and_the_original_kept(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    stack.put_contract("churn", CONTRACT)
    event = _upload(stack, "incoming/churn/bad.csv", BAD)

    result = validate_dataset.lambda_handler(event, context)

    assert result["valid"] is False
    assert result["violations"] == {"below_min": 1, "not_allowed": 1, "short_row": 1}
    run_id = result["run_id"]
    assert stack.keys("quarantine/") == [f"quarantine/churn/{run_id}/bad.csv"]
    assert stack.keys("validated/") == []
    assert stack.keys("incoming/") == ["incoming/churn/bad.csv"]
    assert stack.s3.get_object(Bucket=BUCKET, Key="incoming/churn/bad.csv")["Body"].read() == BAD
    report = stack.read_json(f"reports/validation/churn/{run_id}.json")
    assert {v["kind"] for v in report["violations"]} == {"below_min", "not_allowed", "short_row"}
    [published] = stack.published()
    assert published["detail-type"] == "DatasetRejected"
    assert published["detail"]["quarantine_uri"] == f"s3://{BUCKET}/quarantine/churn/{run_id}/bad.csv"
    assert published["detail"]["violations"] == result["violations"]


def test_a_duplicate_delivery_makes_no_second_copy_and_no_second_event(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    stack.put_contract("churn", CONTRACT)
    event = _upload(stack, "incoming/churn/2026-11.csv", GOOD)

    first = validate_dataset.lambda_handler(event, context)
    again = validate_dataset.lambda_handler(
        copy.deepcopy(event), LocalLambdaContext(function_name="validate_dataset")
    )

    assert again == first
    assert len(stack.published()) == 1
    versions = stack.s3.list_object_versions(Bucket=BUCKET, Prefix="validated/").get("Versions", [])
    assert len(versions) == 1


def test_a_new_version_of_the_same_key_is_validated_again(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    stack.put_contract("churn", CONTRACT)
    first = validate_dataset.lambda_handler(_upload(stack, "incoming/churn/data.csv", GOOD), context)
    second = validate_dataset.lambda_handler(_upload(stack, "incoming/churn/data.csv", BAD), context)

    assert (first["valid"], second["valid"]) == (True, False)
    assert first["run_id"] != second["run_id"]
    assert [e["detail-type"] for e in stack.published()] == ["DatasetValidated", "DatasetRejected"]


def test_without_a_contract_the_upload_is_quarantined_with_that_reason(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    result = validate_dataset.lambda_handler(_upload(stack, "incoming/orders/o.csv", GOOD), context)

    assert result["violations"] == {"contract_missing": 1}
    assert "no data contract at s3://" in result["reason"]
    assert stack.keys("quarantine/orders/") == [f"quarantine/orders/{result['run_id']}/o.csv"]
    assert stack.published()[0]["detail-type"] == "DatasetRejected"


def test_a_broken_contract_is_reported_field_by_field(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    stack.put_contract("churn", "dataset: churn\ncolumns:\n  - {name: a, type: integr}\n")

    result = validate_dataset.lambda_handler(_upload(stack, "incoming/churn/x.csv", GOOD), context)

    assert result["violations"] == {"contract_invalid": 1}
    report = stack.read_json(f"reports/validation/churn/{result['run_id']}.json")
    assert report["violations"][0]["samples"][0]["value"] == "columns[a].type"


def test_the_documented_sample_event_shape_is_parsed_and_its_key_decoded_once(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    stack.put_contract("churn", CONTRACT)
    put = stack.put_object("incoming/churn/churn 2026-11.csv", GOOD)
    stack.s3_notifications()
    event = sample_event("validate_dataset.object-created.json")
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"].update(
        {"version-id": put["VersionId"], "etag": put["ETag"].strip('"'), "size": len(GOOD)}
    )

    result = validate_dataset.lambda_handler(event, context)

    assert result["valid"] is True
    assert result["destination_uri"].endswith("/churn 2026-11.csv")


def test_an_event_for_another_bucket_is_ignored(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    event = sample_event("validate_dataset.object-created.json")

    result = validate_dataset.lambda_handler(event, context)

    assert result["ignored"] is True
    assert stack.published() == []


def test_an_object_over_max_bytes_is_refused_without_download(
    stack: GateStack,
    validate_dataset: ModuleType,
    context: LocalLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack.put_contract("churn", CONTRACT.replace("min_rows: 1", "min_rows: 1\nmax_bytes: 10"))
    event = _upload(stack, "incoming/churn/big.csv", GOOD)
    real_open = validate_dataset.store.open

    def open_contracts_only(key: str, version_id: str | None = None) -> Any:
        assert not key.startswith("incoming/"), "the object must not be downloaded"
        return real_open(key, version_id)

    monkeypatch.setattr(validate_dataset.store, "open", open_contracts_only)

    result = validate_dataset.lambda_handler(event, context)

    assert result["violations"] == {"object_too_large": 1}
    assert stack.keys("quarantine/") == [f"quarantine/churn/{result['run_id']}/big.csv"]


def test_a_transient_aws_error_raises_so_lambda_retries_and_no_event_is_published(
    stack: GateStack,
    validate_dataset: ModuleType,
    context: LocalLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import ClientError

    stack.put_contract("churn", CONTRACT)
    event = _upload(stack, "incoming/churn/2026-11.csv", GOOD)

    def throttled(*_args: Any, **_kwargs: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "CopyObject"
        )

    monkeypatch.setattr(validate_dataset.store, "copy", throttled)
    with pytest.raises(ClientError, match="SlowDown"):
        validate_dataset.lambda_handler(event, context)
    assert stack.published() == []

    monkeypatch.undo()
    retried = validate_dataset.lambda_handler(event, LocalLambdaContext(function_name="validate_dataset"))
    assert retried["valid"] is True
    assert len(stack.published()) == 1


def test_a_parquet_upload_is_downloaded_to_scratch_and_validated(
    stack: GateStack, validate_dataset: ModuleType, context: LocalLambdaContext
) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    stack.put_contract(
        "sales",
        "dataset: sales\nformat: parquet\ncolumns:\n"
        "  - {name: amount, type: float, min: 0}\n  - {name: region, type: category, allowed: [eu, us]}\n",
    )
    buffer = io.BytesIO()
    pq.write_table(pa.table({"amount": [1.5, -2.0], "region": ["eu", "mars"]}), buffer)

    result = validate_dataset.lambda_handler(
        _upload(stack, "incoming/sales/s.parquet", buffer.getvalue()), context
    )

    assert result["violations"] == {"below_min": 1, "not_allowed": 1}
    assert list(stack.tmp.iterdir()) == []  # the scratch copy is removed

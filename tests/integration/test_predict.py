"""predict on moto: Function URL events in, predictions out, capture through Firehose into S3."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_cli.lambda_runtime import LocalLambdaContext, load_function
from mlops_cli.sample_data import churn_table
from mlops_core.contracts import load_contract
from mlops_core.training.artifacts import save_model, sha256_hex
from mlops_core.training.spec import training_spec
from mlops_core.training.train import build_manifest, train

from ..conftest import REPO_ROOT
from .conftest import BUCKET, REGION, GateStack, sample_event

pytestmark = pytest.mark.integration

STREAM = "mlops-capture-test"
FOLDER = "models/churn/run-1"
#: What template.yaml configures (moto stores the prefix verbatim and adds YYYY/MM/DD/HH/).
CAPTURE_PREFIX = "capture/!{partitionKeyFromQuery:model}/dt=!{partitionKeyFromQuery:dt}/"
GOOD = {
    "tenure_months": 12,
    "monthly_charges": 29.5,
    "plan": "basic",
    "support_tickets": None,
    "autopay": True,
}


@dataclass(frozen=True)
class Trained:
    artifact: bytes
    manifest: bytes
    sha256: str


@pytest.fixture(scope="module")
def trained() -> Trained:
    contract = load_contract((REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_text())
    spec = training_spec(contract).model_copy(update={"estimator": "logistic_regression", "params": {}})
    with threadpool_limits(1, "openmp"):
        result = train(churn_table(300, seed=2).to_pandas(), contract, spec)
    artifact = save_model(result.pipeline)
    manifest = build_manifest(result, contract, model_name="churn", artifact_sha256=sha256_hex(artifact))
    return Trained(artifact, manifest.model_dump_json(by_alias=True).encode(), sha256_hex(artifact))


@pytest.fixture
def firehose(stack: GateStack) -> Any:
    import boto3

    client = boto3.client("firehose", region_name=REGION)
    client.create_delivery_stream(
        DeliveryStreamName=STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose-capture",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": CAPTURE_PREFIX,
            "ErrorOutputPrefix": "capture-errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "DynamicPartitioningConfiguration": {"Enabled": True},
        },
    )
    return client


Load = Callable[..., ModuleType]


@pytest.fixture
def load_predict(stack: GateStack, firehose: Any, trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Load:
    """Upload the model, set the environment deploy_model would set, and cold-start predict."""
    stack.put_object(f"{FOLDER}/model.skops", trained.artifact)
    stack.put_object(f"{FOLDER}/manifest.json", trained.manifest)

    def load(*, bound: bool = True, **env: str) -> ModuleType:
        values = {
            "DATA_BUCKET": BUCKET,
            "CAPTURE_STREAM": STREAM,
            "CAPTURE_SAMPLING": "1.0",
            "MAX_INSTANCES": "20",
            "POWERTOOLS_SERVICE_NAME": "predict",
            "POWERTOOLS_METRICS_NAMESPACE": "MLOpsBundle",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }
        if bound:
            values |= {
                "MODEL_NAME": "churn",
                "MODEL_VERSION": "7",
                "ARTIFACT_URI": f"s3://{BUCKET}/{FOLDER}/model.skops",
                "ARTIFACT_SHA256": trained.sha256,
                "MANIFEST_URI": f"s3://{BUCKET}/{FOLDER}/manifest.json",
            }
        for name in ("MODEL_NAME", "MODEL_VERSION", "ARTIFACT_URI", "ARTIFACT_SHA256", "MANIFEST_URI"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (values | env).items():
            monkeypatch.setenv(name, value)
        return load_function("predict")

    return load


def _event(method: str, path: str, body: str | None = None, content_type: str = "application/json") -> Any:
    event = copy.deepcopy(sample_event("predict.function-url.json"))
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["headers"]["content-type"] = content_type
    event["body"] = body
    if body is None:
        del event["body"]
    return event


def _call(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    context = LocalLambdaContext(function_name="predict")
    response = module.lambda_handler(event, context)
    body = json.loads(response["body"])
    assert body["request_id"] == context.aws_request_id
    assert response["headers"]["x-request-id"] == context.aws_request_id
    return response["statusCode"], body, response


def _captured(stack: GateStack) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for key in stack.keys("capture/"):
        data = stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        lines.extend(json.loads(line) for line in data.splitlines())
    return lines


def test_the_sample_event_predicts_and_is_captured(stack: GateStack, load_predict: Load) -> None:
    predict = load_predict()
    event = sample_event("predict.function-url.json")

    status, body, response = _call(predict, event)

    assert status == 200, body
    assert response["headers"]["Content-Type"] == "application/json"
    assert (body["model"], body["version"]) == ("churn", 7)
    assert len(body["predictions"]) == 1 and isinstance(body["predictions"][0], bool)
    assert set(body["probabilities"][0]) == {"false", "true"}
    [record] = _captured(stack)
    assert record["request_id"] == body["request_id"]
    assert (record["model"], record["version"], record["index"]) == ("churn", 7, 0)
    assert record["features"] == GOOD
    assert record["prediction"] == body["predictions"][0]
    assert record["time"].endswith("Z")


def test_csv_predicts_and_pii_is_never_captured(stack: GateStack, load_predict: Load) -> None:
    predict = load_predict()
    csv_body = (
        "customer_id,email,tenure_months,monthly_charges,plan,support_tickets,autopay\n"
        "C000001,ana@example.com,12,29.5,basic,,true\n"
        "C000002,ben@example.com,40,70,pro,3,false\n"
    )
    status, body, _ = _call(predict, _event("POST", "/predict", csv_body, "text/csv"))

    assert status == 200, body
    assert len(body["predictions"]) == 2
    records = _captured(stack)
    assert [r["index"] for r in records] == [0, 1]
    assert {r["request_id"] for r in records} == {body["request_id"]}
    assert all(set(r["features"]) == set(GOOD) for r in records)
    assert "example.com" not in json.dumps(records) and "C00000" not in json.dumps(records)


def test_bad_instances_get_400_with_errors_per_field(stack: GateStack, load_predict: Load) -> None:
    predict = load_predict()
    bad = {"instances": [GOOD, GOOD | {"plan": "gold", "tenure_months": "12"}]}

    status, body, _ = _call(predict, _event("POST", "/predict", json.dumps(bad)))

    assert status == 400
    assert body["error"] == "invalid_instances"
    assert sorted((e["instance"], e["field"]) for e in body["errors"]) == [(1, "plan"), (1, "tenure_months")]
    assert _captured(stack) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        ("{oops", "application/json", 400, "bad_request"),
        ('{"instances": []}', "application/json", 400, "bad_request"),
        (json.dumps({"instances": [GOOD] * 21}), "application/json", 413, "payload_too_large"),
        ("a,b", "application/xml", 415, "unsupported_media_type"),
    ],
)
def test_malformed_oversized_and_unsupported_requests(
    load_predict: Load, body: str, content_type: str, status: int, error: str
) -> None:
    predict = load_predict()
    got, answer, _ = _call(predict, _event("POST", "/predict", body, content_type))
    assert (got, answer["error"]) == (status, error)


def test_a_body_over_the_byte_limit_is_413(load_predict: Load) -> None:
    predict = load_predict(MAX_BODY_BYTES="200")
    status, body, _ = _call(predict, _event("POST", "/predict", json.dumps({"instances": [GOOD] * 3})))
    assert (status, body["error"]) == (413, "payload_too_large")


def test_health_names_the_model_and_version(load_predict: Load) -> None:
    predict = load_predict()
    status, body, _ = _call(predict, _event("GET", "/health"))
    assert (status, body["status"], body["model"], body["version"]) == (200, "ok", "churn", 7)


def test_no_model_bound_answers_503(load_predict: Load) -> None:
    predict = load_predict(bound=False)
    status, body, _ = _call(predict, _event("GET", "/health"))
    assert (status, body["status"]) == (503, "unavailable")
    assert "no model is bound" in body["reason"]
    status, body, _ = _call(predict, _event("POST", "/predict", json.dumps({"instances": [GOOD]})))
    assert (status, body["error"]) == (503, "model_unavailable")


def _emf(out: str, metric: str) -> list[dict[str, Any]]:
    """The EMF documents of stdout that carry ``metric``."""
    documents = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [d for d in documents if metric in d]


def test_every_5xx_answer_is_counted_by_the_version_that_gave_it(
    load_predict: Load, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a predict version with no model bound (every /predict is a 503)
    predict = load_predict(bound=False)
    capsys.readouterr()
    # When it answers one request with a 5xx and one with a 4xx
    assert _call(predict, _event("POST", "/predict", json.dumps({"instances": [GOOD]})))[0] == 503
    assert _call(predict, _event("GET", "/nope"))[0] == 404
    # Then one ServerErrors is counted, with the version that answered: its rollout alarm reads it
    [document] = _emf(capsys.readouterr().out, "ServerErrors")
    assert document["ServerErrors"] == [1.0]
    assert document["function_version"] == "$LATEST"
    assert document["service"] == "predict"
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert sorted(directive["Dimensions"][0]) == ["function_version", "service"]


def test_a_tampered_artifact_answers_503_never_500(stack: GateStack, load_predict: Load) -> None:
    predict = load_predict()
    stack.put_object(f"{FOLDER}/model.skops", b"PK\x03\x04 not the registered model")
    status, body, _ = _call(predict, _event("POST", "/predict", json.dumps({"instances": [GOOD]})))
    assert (status, body["error"]) == (503, "model_unavailable")
    assert "SHA-256" in body["message"]
    status, body, _ = _call(predict, _event("GET", "/health"))
    assert status == 503 and "SHA-256" in body["reason"]


def test_sampling_zero_captures_nothing(stack: GateStack, load_predict: Load) -> None:
    predict = load_predict(CAPTURE_SAMPLING="0")
    status, _, _ = _call(predict, _event("POST", "/predict", json.dumps({"instances": [GOOD]})))
    assert status == 200
    assert _captured(stack) == []


def test_a_capture_failure_never_fails_the_prediction(
    load_predict: Load, capsys: pytest.CaptureFixture[str]
) -> None:
    predict = load_predict(CAPTURE_STREAM="no-such-stream")
    status, body, _ = _call(predict, _event("POST", "/predict", json.dumps({"instances": [GOOD]})))
    assert status == 200 and len(body["predictions"]) == 1
    assert '"CaptureFailures":[1.0]' in capsys.readouterr().out.replace(" ", "")


def test_unknown_routes_are_404(load_predict: Load) -> None:
    predict = load_predict()
    status, body, _ = _call(predict, _event("GET", "/nope"))
    assert (status, body["error"]) == (404, "not_found")

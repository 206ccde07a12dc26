"""predict as clients call it: any Function URL request gets 200 or a 4xx naming what is wrong.

The real handler (functions/predict/app.py) serves a real model from moto's S3, called with
the Function URL event shape of infra/events/samples/predict.function-url.json. Whatever
the body, its encoding flag or its content type, the answer is never a 5xx.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from moto import mock_aws

from mlops_cli.lambda_runtime import LocalLambdaContext, load_function

from ..conftest import REPO_ROOT
from .conftest import ChurnModel, share_of_examples

# A 4xx answer publishes no metric; Powertools warns about each such invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

BUCKET = "mlops-data-fuzz"
FOLDER = "models/churn/run-1"
SAMPLE = json.loads((REPO_ROOT / "infra" / "events" / "samples" / "predict.function-url.json").read_text())
FEATURES = ["tenure_months", "monthly_charges", "plan", "support_tickets", "autopay"]
MAX_INSTANCES = 20
MAX_BODY_BYTES = 20_000
#: Stands for an integer of 5,000 digits in a body (json.dumps refuses to write one; json.loads
#: refuses to read it with a ValueError of its own).
HUGE_INT = "<5,000-digit integer>"


@pytest.fixture(scope="module")
def predict(churn_model: ChurnModel) -> Iterator[ModuleType]:
    """predict cold-started once on moto, bound to a churn model, capture off."""
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "DATA_BUCKET": BUCKET,
        "CAPTURE_STREAM": "",
        "MAX_INSTANCES": str(MAX_INSTANCES),
        "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "POWERTOOLS_SERVICE_NAME": "predict",
        "POWERTOOLS_METRICS_NAMESPACE": "MLOpsBundle",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "MODEL_NAME": "churn",
        "MODEL_VERSION": "1",
        "ARTIFACT_URI": f"s3://{BUCKET}/{FOLDER}/model.skops",
        "ARTIFACT_SHA256": churn_model.sha256,
        "MANIFEST_URI": f"s3://{BUCKET}/{FOLDER}/manifest.json",
    }
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in environment.items():
            patch.setenv(name, value)
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/model.skops", Body=churn_model.artifact)
        s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}/manifest.json", Body=churn_model.manifest.encode())
        module = load_function("predict")
        status, body = _call(module, copy.deepcopy(SAMPLE))
        assert status == 200, body  # the model loads: every later answer is about the request
        yield module


def _call(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.lambda_handler(event, LocalLambdaContext(function_name="predict"))
    return response["statusCode"], json.loads(response["body"])


def _event(body: str | None, *, base64_flag: bool | None, content_type: str | None) -> dict[str, Any]:
    event = copy.deepcopy(SAMPLE)
    del event["headers"]["content-length"]
    if content_type is None:
        del event["headers"]["content-type"]
    else:
        event["headers"]["content-type"] = content_type
    if body is None:
        del event["body"]
    else:
        event["body"] = body
    if base64_flag is None:
        del event["isBase64Encoded"]
    else:
        event["isBase64Encoded"] = base64_flag
    return event


def _check_answer(status: int, body: dict[str, Any], sent: int | None = None) -> None:
    """The property: 200 with a prediction per instance, or a 4xx whose JSON names the problem."""
    assert status == 200 or 400 <= status < 500, (status, body)
    assert body["request_id"]
    if status == 200:
        assert len(body["predictions"]) == (sent if sent is not None else len(body["predictions"]))
        return
    assert body["error"] and body["message"], body
    if body["error"] == "invalid_instances":
        assert body["errors"], body
        for problem in body["errors"]:
            assert problem["field"] is None or problem["field"] in FEATURES, problem
            assert isinstance(problem["instance"], int) and problem["error"], problem


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**30, -(10**20), 2**63, HUGE_INT])
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["basic", "plus", "pro", "12", "true", "", " "]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
INSTANCE = st.dictionaries(st.sampled_from([*FEATURES, "email", "churned", ""]), JSON_VALUES, max_size=7)
GOOD_INSTANCE = st.fixed_dictionaries(
    {
        "tenure_months": st.integers(0, 600),
        "monthly_charges": st.floats(0, 10_000),
        "plan": st.sampled_from(["basic", "plus", "pro"]),
        "support_tickets": st.none() | st.integers(0, 50),
        "autopay": st.booleans(),
    }
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/vnd.api+json",
        "text/csv",
        "text/plain",
        "",
        "multipart/form-data; boundary=x",
        None,
    ]
)


def _encode(text: str, as_base64: bool) -> str:
    return base64.b64encode(text.encode()).decode() if as_base64 else text


@given(
    instances=st.lists(INSTANCE | GOOD_INSTANCE | JSON_VALUES, max_size=25),
    wrap=st.sampled_from(["instances", "bare", "other key"]),
    as_base64=st.booleans(),
    content_type=CONTENT_TYPES,
)
@example(
    instances=[{**dict.fromkeys(FEATURES, 1), "tenure_months": HUGE_INT}],
    wrap="instances",
    as_base64=False,
    content_type="application/json",
)
def test_any_json_body_gets_predictions_or_a_4xx_naming_the_field(
    predict: ModuleType, instances: list[Any], wrap: str, as_base64: bool, content_type: str | None
) -> None:
    document: Any = {"instances": instances} if wrap == "instances" else instances
    if wrap == "other key":
        document = {"rows": instances}
    text = json.dumps(document, allow_nan=True).replace(json.dumps(HUGE_INT), "9" * 5000)

    status, body = _call(
        predict, _event(_encode(text, as_base64), base64_flag=as_base64, content_type=content_type)
    )

    _check_answer(status, body, len(instances))


@share_of_examples(0.2)
@given(instances=st.lists(GOOD_INSTANCE, min_size=1, max_size=MAX_INSTANCES), as_base64=st.booleans())
def test_instances_that_meet_the_signature_are_predicted(
    predict: ModuleType, instances: list[dict[str, Any]], as_base64: bool
) -> None:
    text = json.dumps({"instances": instances})

    status, body = _call(predict, _event(_encode(text, as_base64), base64_flag=as_base64, content_type=None))

    assert status == 200, body
    assert len(body["predictions"]) == len(instances)
    assert all(set(p) == {"false", "true"} for p in body["probabilities"])


@given(
    body=st.none() | st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    base64_flag=st.none() | st.booleans(),
    content_type=CONTENT_TYPES,
)
@example(body=None, base64_flag=None, content_type=None)
@example(body="[" * 50_000, base64_flag=False, content_type="application/json")
@example(body="not base64 at all é", base64_flag=True, content_type="application/json")
@example(body="x" * (MAX_BODY_BYTES + 1), base64_flag=False, content_type="application/json")
def test_any_body_text_gets_a_4xx_or_predictions(
    predict: ModuleType, body: str | None, base64_flag: bool | None, content_type: str | None
) -> None:
    status, answer = _call(predict, _event(body, base64_flag=base64_flag, content_type=content_type))

    _check_answer(status, answer)


@given(
    header=st.lists(st.sampled_from([*FEATURES, "email", " plan ", ""]), max_size=7),
    rows=st.lists(
        st.lists(
            st.sampled_from(["", "1", "-3", "2.5", "nan", "inf", "1e999", "basic", "true", "yes", '"a,b"'])
        ).map(",".join),
        max_size=25,
    ),
    newline=st.sampled_from(["\n", "\r\n"]),
    as_base64=st.booleans(),
)
def test_any_csv_body_gets_predictions_or_a_4xx_naming_the_field(
    predict: ModuleType, header: list[str], rows: list[str], newline: str, as_base64: bool
) -> None:
    text = newline.join([",".join(header), *rows])

    status, body = _call(
        predict, _event(_encode(text, as_base64), base64_flag=as_base64, content_type="text/csv")
    )

    _check_answer(status, body)

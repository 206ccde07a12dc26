"""The predict function URL refuses unsigned requests and answers signed ones."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from .stack_checks import signed_request

TIMEOUT_SECONDS = 60  # a cold start loads scikit-learn and the model


def _send(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _send_signed(session: boto3.Session, method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    credentials = session.get_credentials()
    assert credentials is not None, "no AWS credentials in this environment"
    headers = {"content-type": "application/json"} if body is not None else {}
    request = signed_request(
        method,
        url,
        credentials.get_frozen_credentials(),
        str(session.region_name),
        body=body,
        headers=headers,
    )
    status, raw = _send(method, url, body=body, headers=dict(request.headers.items()))
    return status, json.loads(raw) if raw else {}


def test_an_unsigned_request_is_refused(predict_url: str) -> None:
    # When /health is called without a SigV4 signature
    status, _ = _send("GET", f"{predict_url}/health")

    # Then the function URL (AuthType AWS_IAM) refuses it before the function runs
    assert status == 403


def test_health_answers_a_signed_request(session: boto3.Session, predict_url: str) -> None:
    # When /health is called with a signature
    status, body = _send_signed(session, "GET", f"{predict_url}/health")

    # Then it says which model is live, or that none is (a new stack serves no model yet)
    assert (status, body.get("status")) in {(200, "ok"), (503, "unavailable")}, (status, body)
    assert body.get("request_id")


def test_predict_checks_instances_when_a_model_is_live(session: boto3.Session, predict_url: str) -> None:
    # Given a live model (a new stack has none until a model is approved and deployed)
    status, health = _send_signed(session, "GET", f"{predict_url}/health")
    if status != 200:
        pytest.skip(f"no model is live: {health.get('reason')}")

    # When /predict gets an instance with no features at all
    status, body = _send_signed(
        session, "POST", f"{predict_url}/predict", json.dumps({"instances": [{}]}).encode()
    )

    # Then the model's feature checks answer (400 naming the missing features, or a prediction if
    # every feature is nullable), with the live model's name: never a 5xx
    assert status in {200, 400}, (status, body)
    if status == 400:
        assert body["error"] == "invalid_instances"
        assert body["errors"]
    else:
        assert body["model"] == health["model"]
        assert len(body["predictions"]) == 1

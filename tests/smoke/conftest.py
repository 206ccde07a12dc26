"""Post-deploy checks against a real stack, named by MLOPS_SMOKE_STACK (`make smoke STACK=<name>`).

`make test` never collects this folder (tests/conftest.py leaves it out unless the variable is
set). Credentials and region come from the usual AWS chain; in CI, from the OIDC role.
"""

from __future__ import annotations

import os

import boto3
import pytest

from mlops_cli.stack_outputs import require_outputs, stack_outputs

STACK_VARIABLE = "MLOPS_SMOKE_STACK"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "uploads: writes to the stack's data bucket (left out on production)")


@pytest.fixture(scope="session")
def stack_name() -> str:
    name = os.environ.get(STACK_VARIABLE, "").strip()
    if not name:
        raise pytest.UsageError(f"{STACK_VARIABLE} names no stack: run `make smoke STACK=<stack name>`")
    return name


@pytest.fixture(scope="session")
def session() -> boto3.Session:
    # configure-aws-credentials sets AWS_REGION and AWS_DEFAULT_REGION; botocore reads only the latter.
    session = boto3.Session(region_name=os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise pytest.UsageError("no AWS region: set AWS_REGION (CI takes it from samconfig.toml)")
    return session


@pytest.fixture(scope="session")
def outputs(session: boto3.Session, stack_name: str) -> dict[str, str]:
    """Every output of the stack; :class:`StackNotFound` names the stack and region if it is absent."""
    return stack_outputs(session, stack_name)


@pytest.fixture(scope="session")
def data_bucket(outputs: dict[str, str], stack_name: str) -> str:
    return require_outputs(outputs, stack_name, "DataBucketName")[0]


@pytest.fixture(scope="session")
def predict_url(outputs: dict[str, str], stack_name: str) -> str:
    return require_outputs(outputs, stack_name, "PredictFunctionUrl")[0].rstrip("/")

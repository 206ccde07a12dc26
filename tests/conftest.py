"""Shared fixtures: contracts and files built in tmp_path, nothing downloaded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from mlops_core.contracts import DataContract, contract_from_mapping

REPO_ROOT = Path(__file__).resolve().parents[1]
SMOKE_DIR = REPO_ROOT / "tests" / "smoke"
SMOKE_STACK_VARIABLE = "MLOPS_SMOKE_STACK"

# Set before scikit-learn loads OpenMP. The local cloud trains models in this process; with
# OpenMP's spinning worker threads, training next to any other busy process on a 2-core machine
# ran about 20x slower and stretched the e2e tests past their schedules. One thread is also
# what a 1,024 MB Lambda function has (less than one vCPU).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Property tests (tests/fuzz and a few unit tests) are deterministic: the same examples on
# every run and machine, no example database, no per-example deadline on a busy CI runner.
# "ci" keeps the whole tests/fuzz suite well under a minute on 2 cores; "deep" is for a
# longer search by hand: HYPOTHESIS_PROFILE=deep pytest tests/fuzz.
_FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", _FUZZ, max_examples=100)
settings.register_profile("deep", _FUZZ, max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _smoke_stack_named() -> bool:
    return bool(os.environ.get(SMOKE_STACK_VARIABLE, "").strip())


def pytest_configure(config: pytest.Config) -> None:
    """Naming tests/smoke on the command line without a stack is a usage error, not an empty run."""
    named = [arg for arg in config.args if Path(arg.split("::")[0]).resolve().is_relative_to(SMOKE_DIR)]
    if named and not _smoke_stack_named():
        raise pytest.UsageError(
            f"tests/smoke checks a deployed stack and {SMOKE_STACK_VARIABLE} names none: "
            "run `make smoke STACK=<stack name>`"
        )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/smoke/ checks a deployed stack: collected only when MLOPS_SMOKE_STACK names one.

    `make test` has no AWS, so it never collects them; `make smoke STACK=<name>` sets the variable.
    """
    if collection_path == SMOKE_DIR and not _smoke_stack_named():
        return True
    return None


CHURN_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "customer_id",
        "type": "string",
        "role": "id",
        "unique": True,
        "pattern": "^C[0-9]{6}$",
        "max_length": 32,
    },
    {"name": "tenure_months", "type": "integer", "min": 0, "max": 600},
    {"name": "monthly_charges", "type": "float", "min": 0},
    {"name": "plan", "type": "category", "allowed": ["basic", "plus", "pro"]},
    {"name": "signup_at", "type": "datetime", "min": "2000-01-01"},
    {"name": "churned", "type": "boolean", "role": "target"},
]
CHURN_HEADER = "customer_id,tenure_months,monthly_charges,plan,signup_at,churned"
GOOD_ROWS = [
    "C000001,12,29.5,basic,2024-01-05,false",
    "C000002,40,70.25,pro,2023-06-30 12:00:00,true",
    "C000003,3,45.0,plus,2024-03-01T08:30:00Z,false",
]


def churn_contract(**overrides: Any) -> DataContract:
    document: dict[str, Any] = {"dataset": "churn", "min_rows": 1, "columns": CHURN_COLUMNS}
    document.update(overrides)
    return contract_from_mapping(document)


@pytest.fixture
def contract() -> DataContract:
    return churn_contract()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write bytes (or lines of text) to a file in tmp_path and return its path."""

    def write(content: bytes | str | list[str], name: str = "data.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, list):
            content = "\n".join(content) + "\n"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write

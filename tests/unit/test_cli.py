"""The mlops command: exit codes, readable output, the JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_cli.main import main

from ..conftest import CHURN_HEADER, GOOD_ROWS, REPO_ROOT

CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
SMALL = (
    "dataset: churn\nmin_rows: 1\ncolumns:\n  - {name: customer_id, type: string, unique: true}\n"
    "  - {name: tenure_months, type: integer, min: 0}\n"
)


def test_a_valid_file_exits_0_and_says_so(
    write_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    contract = write_file(SMALL, "c.yaml")
    data = write_file(["customer_id,tenure_months", "a,1", "b,2"])

    assert main(["validate", str(data), "--contract", str(contract)]) == 0
    assert "VALID data.csv: 2 rows" in capsys.readouterr().out


def test_an_invalid_file_exits_1_with_a_table_and_a_json_report(
    write_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = write_file(SMALL, "c.yaml")
    data = write_file(["customer_id,tenure_months", "a,1", "a,-2"])
    report = tmp_path / "out" / "report.json"

    code = main(["validate", str(data), "--contract", str(contract), "--report", str(report)])

    out = capsys.readouterr().out
    assert code == 1
    assert "INVALID data.csv" in out and "duplicate_value" in out and "below_min" in out
    saved = json.loads(report.read_text())
    assert {v["kind"] for v in saved["violations"]} == {"duplicate_value", "below_min"}


def test_a_broken_contract_exits_2_naming_the_field(
    write_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    contract = write_file("dataset: churn\ncolumns:\n  - {name: a, type: integr}\n", "c.yaml")
    data = write_file(["a", "1"])

    assert main(["validate", str(data), "--contract", str(contract)]) == 2
    assert "columns[a].type" in capsys.readouterr().err


def test_a_broken_drift_section_exits_2_naming_the_key(
    write_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONTRACT.read_text() + "\ndrift:\n  features:\n    plan: {method: ks}\n"
    contract = write_file(text, "c.yaml")

    assert main(["contract", str(contract)]) == 2
    err = capsys.readouterr().err
    assert "drift.features.plan.method" in err and "ks does not accept categorical" in err


def test_a_missing_file_is_a_usage_error(
    write_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    contract = write_file(SMALL, "c.yaml")

    assert main(["validate", "/nonexistent.csv", "--contract", str(contract)]) == 2
    assert "no file at /nonexistent.csv" in capsys.readouterr().err


def test_quiet_prints_one_verdict_line(
    write_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_file([CHURN_HEADER, *GOOD_ROWS])

    code = main(["validate", str(data), "--contract", str(CONTRACT), "--quiet"])

    out = capsys.readouterr().out.strip()
    assert code == 1  # the example contract wants 100 rows and more columns
    assert out.startswith("INVALID") and len(out.splitlines()) <= 2


def test_contract_shows_the_rules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    assert main(["contract", str(CONTRACT)]) == 0

    out = capsys.readouterr().out
    assert "customer_id" in out and "pii (masked)" in out

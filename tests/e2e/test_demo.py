"""`mlops demo` runs the bundle from template.yaml in the local cloud, and says where things went."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_cli.main import main


def test_the_demo_gives_every_upload_the_verdict_it_was_made_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    assert main(["demo", "--out", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "stack deployed" in out and "contract published" in out
    assert out.count("Object Created") == 8  # six examples, next month's data, the new population's
    assert "every upload got the verdict it was made for" in out
    assert "training trained" in out and "model v1 Approved" in out
    assert "rollout InProgress" in out and "rollout Succeeded" in out
    assert "20 requests: churn v2 100%" in out
    reports = sorted((tmp_path / "reports" / "validation" / "churn").glob("*.json"))
    assert len(reports) == 8
    verdicts = sorted(json.loads(path.read_text())["valid"] for path in reports)
    assert verdicts == [False] * 5 + [True] * 3
    # drifted traffic: detected, confirmed 2 of 3, one alert, the report; new data trains v3, rolled out
    assert "churn v2: ok" in out
    assert out.count("CONFIRMED, alert sent") == 1
    assert "[mlops] drift confirmed: churn v2" in out
    assert "model v3 Approved" in out and "churn v3 100%" in out and "churn v3: ok" in out
    assert (tmp_path / "reports" / "drift" / "churn.html").read_text().count("<svg") >= 5
    assert (tmp_path / "function-logs.jsonl").stat().st_size > 0

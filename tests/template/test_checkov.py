"""checkov on template.yaml and on its offline SAM transform: no finding, and every skip says why.

IAM problems only show in the transformed template (SAM writes the roles), so both are
scanned. A finding is either fixed or skipped in the template, on the resource, with its
reason in ``Metadata.checkov.skip[].comment``. checkov runs from ``.venv-checkov`` (pinned in
requirements/checkov.txt, made by ``make test``), offline (``--skip-download``).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT, TEMPLATE_PATH, Template, load_source_template
from .conftest import transform_template as transform

pytestmark = pytest.mark.template

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def scan(path: Path) -> dict[str, Any]:
    """checkov's JSON report of one CloudFormation file."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make test` installs it (requirements/checkov.txt)")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(path),
            "--framework",
            "cloudformation",
            "--quiet",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if not result.stdout.strip():
        # checkov prints nothing at all for a file without a single check to run
        pytest.fail(f"checkov gave no report for {path}: {result.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def findings(report: dict[str, Any]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def write(template: Template, folder: Path) -> Path:
    path = folder / "template.json"
    path.write_text(json.dumps(template))
    return path


@pytest.fixture(scope="module")
def transformed_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return scan(write(transform(load_source_template()), tmp_path_factory.mktemp("transformed")))


def test_checkov_finds_nothing_in_the_source_template() -> None:
    report = scan(TEMPLATE_PATH)
    assert report["summary"]["passed"] > 0
    assert findings(report) == []


def test_checkov_finds_nothing_in_the_transformed_template(transformed_report: dict[str, Any]) -> None:
    assert transformed_report["summary"]["resource_count"] > 50
    assert findings(transformed_report) == []


def test_every_skip_gives_its_reason() -> None:
    source = load_source_template()
    skips = [
        (logical_id, skip)
        for logical_id, resource in source["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    assert [(logical_id, skip["id"]) for logical_id, skip in skips if len(skip.get("comment", "")) < 40] == []


def test_a_wildcard_policy_is_a_finding(tmp_path: Path) -> None:
    source = copy.deepcopy(load_source_template())
    statements = source["Resources"]["CheckDriftFunction"]["Properties"]["Policies"][0]["Statement"]
    statements.append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    report = scan(write(transform(source), tmp_path))
    assert [f for f in findings(report) if "CheckDriftFunctionRole" in f], findings(report)


def test_an_unencrypted_queue_is_a_finding(tmp_path: Path) -> None:
    source = copy.deepcopy(load_source_template())
    queue = source["Resources"]["CheckDriftFailureQueue"]
    queue["Properties"].pop("SqsManagedSseEnabled")
    queue.pop("Metadata")  # its skip said why SQS-managed SSE satisfies the check
    report = scan(write(transform(source), tmp_path))
    assert [f for f in findings(report) if "CheckDriftFailureQueue" in f and f.startswith("CKV_AWS_27")]

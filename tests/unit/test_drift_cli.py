"""`mlops drift`: baselines and checks on local files, and the stack's reports (on moto)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
import yaml
from moto import mock_aws

from mlops_cli.main import main
from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.capture import CaptureRecord
from mlops_core.contracts import load_contract
from mlops_core.drift.spec import drift_spec
from mlops_core.drift.state import InMemoryDriftStateStore
from mlops_core.drift_check import DriftReport, check_model_drift, compare_by_spec, latest_key
from mlops_core.object_store import S3ObjectStore
from mlops_core.registry import DynamoDBModelRegistry, Lineage
from mlops_core.training.baseline import DriftBaseline, compute_baseline
from mlops_core.training.manifest import FeatureImportance, ModelManifest, library_versions
from mlops_core.training.spec import training_spec

from ..conftest import REPO_ROOT

CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
FEATURES = ("tenure_months", "monthly_charges", "plan", "support_tickets", "autopay")
SHIFTED = {"monthly_charges", "plan"}
REGION = "eu-west-1"
STACK = "mlops-drift-test"
BUCKET = "mlops-drift-data"
TABLE = "mlops-drift-registry"


def shifted(rows: int, seed: int) -> pa.Table:
    table = churn_table(rows, seed=seed)
    records = table.to_pylist()
    for row in records:
        row["monthly_charges"] += 30.0
        row["plan"] = "pro"
    return pa.Table.from_pylist(records, schema=table.schema)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("drift")
    paths = {
        "train": write_csv(churn_table(3000, seed=4), folder / "train.csv"),
        "same": write_csv(churn_table(500, seed=11), folder / "same.csv"),
        "shifted": write_csv(shifted(500, seed=12), folder / "shifted.csv"),
    }
    paths["baseline"] = folder / "baseline.json"
    assert (
        main(
            [
                "drift",
                "baseline",
                "--contract",
                str(CONTRACT),
                "--data",
                str(paths["train"]),
                "-o",
                str(paths["baseline"]),
            ]
        )
        == 0
    )
    return paths


def check(*args: str) -> int:
    return main(["drift", "check", *args])


def json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


# --- mlops drift baseline ----------------------------------------------------------------------------


def test_the_baseline_is_what_training_computes(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out" / "baseline.json"
    code = main(
        ["drift", "baseline", "--contract", str(CONTRACT), "--data", str(files["train"]), "-o", str(output)]
    )

    contract = load_contract(CONTRACT.read_text())
    expected = compute_baseline(churn_table(3000, seed=4).to_pandas(), contract, training_spec(contract))
    assert code == 0
    assert DriftBaseline.model_validate_json(output.read_text()) == expected
    out = capsys.readouterr().out
    assert all(name in out for name in FEATURES) and "3000 rows of churn" in out


def test_a_parquet_training_file_gives_the_same_baseline(files: dict[str, Path], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    parquet = tmp_path / "train.parquet"
    pq.write_table(churn_table(3000, seed=4), parquet)
    output = tmp_path / "baseline.json"

    assert (
        main(["drift", "baseline", "--contract", str(CONTRACT), "--data", str(parquet), "-o", str(output)])
        == 0
    )
    assert DriftBaseline.model_validate_json(output.read_text()) == DriftBaseline.model_validate_json(
        files["baseline"].read_text()
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, f: ["--contract", str(d / "none.yaml"), "--data", str(f["train"])], "no contract file at"),
        (lambda d, f: ["--contract", str(CONTRACT), "--data", str(d / "none.csv")], "no data file at"),
        (lambda d, f: ["--contract", str(d / "no_training.yaml"), "--data", str(f["train"])], "training"),
        (lambda d, f: ["--contract", str(CONTRACT), "--data", str(d / "text.csv")], "cannot read"),
    ],
)
def test_baseline_usage_errors_exit_2_naming_the_problem(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    document = yaml.safe_load(CONTRACT.read_text())
    del document["training"]
    (tmp_path / "no_training.yaml").write_text(yaml.safe_dump(document))
    lines = files["train"].read_text().splitlines()
    (tmp_path / "text.csv").write_text("\n".join([lines[0], lines[1].replace(",48,", ",many,"), *lines[2:]]))

    code = main(["drift", "baseline", *make(tmp_path, files), "-o", str(tmp_path / "b.json")])

    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


# --- mlops drift check on files ---------------------------------------------------------------------


def test_a_shifted_window_exits_1_with_the_documented_json(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = check(
        "--baseline",
        str(files["baseline"]),
        "--data",
        str(files["shifted"]),
        "--contract",
        str(CONTRACT),
        "--json",
    )

    summary = json_out(capsys)
    assert code == 1
    assert summary["status"] == "drift" and summary["dataset_drift"] is True
    assert summary["drift_share"] == pytest.approx(len(SHIFTED) / len(FEATURES))
    assert summary["drift_share_threshold"] == drift_spec(load_contract(CONTRACT.read_text())).drift_share
    assert set(summary["features"]) == set(FEATURES)
    assert {name for name, f in summary["features"].items() if f["drifted"]} == SHIFTED
    for feature in summary["features"].values():
        assert isinstance(feature["drifted"], bool)
        (test,) = feature["tests"].values()
        assert set(test) == {"statistic", "p_value", "threshold", "drifted"}
        assert test["drifted"] is feature["drifted"]


def test_the_json_is_the_comparison_of_the_files_rows(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    check(
        "--baseline",
        str(files["baseline"]),
        "--data",
        str(files["shifted"]),
        "--contract",
        str(CONTRACT),
        "--json",
    )

    contract = load_contract(CONTRACT.read_text())
    spec = drift_spec(contract)
    baseline = DriftBaseline.model_validate_json(files["baseline"].read_text())
    rows = [{k: row[k] for k in FEATURES} for row in shifted(500, seed=12).to_pylist()]
    expected = compare_by_spec(baseline, rows, spec, contract=contract).summary(spec.drift_share)
    assert json_out(capsys) == json.loads(json.dumps(expected))


def test_a_window_from_the_training_population_exits_0_with_a_table(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = check(
        "--baseline", str(files["baseline"]), "--data", str(files["same"]), "--contract", str(CONTRACT)
    )

    out = capsys.readouterr().out
    assert code == 0
    assert out.count("stable") == len(FEATURES) and "drifted" not in out.split("OK")[0]
    assert "OK same.csv: 0 of 5 tested features drifted" in out


def test_the_drift_share_comes_from_the_contract_or_the_option(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    shifted_args = ["--baseline", str(files["baseline"]), "--data", str(files["shifted"]), "--json"]
    # 2 of 5 features drift: 0.4 is below the default 0.5, above the contract's 0.3.
    assert check(*shifted_args) == 0
    assert json_out(capsys)["drift_share_threshold"] == 0.5
    assert check(*shifted_args, "--drift-share", "0.4") == 1
    assert json_out(capsys)["status"] == "drift"
    assert check(*shifted_args, "--contract", str(CONTRACT), "--drift-share", "0.9") == 0
    assert json_out(capsys)["status"] == "ok"


def test_the_contracts_drift_section_ignores_and_sets_methods(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load(CONTRACT.read_text())
    document["drift"] = {"features": {"plan": {"ignore": True}, "monthly_charges": {"method": "psi"}}}
    contract = tmp_path / "churn.yaml"
    contract.write_text(yaml.safe_dump(document))

    check(
        "--baseline",
        str(files["baseline"]),
        "--data",
        str(files["shifted"]),
        "--contract",
        str(contract),
        "--json",
    )

    features = json_out(capsys)["features"]
    assert "plan" not in features
    assert list(features["monthly_charges"]["tests"]) == ["psi"]


def test_too_few_rows_is_insufficient_data_exit_0_with_a_warning(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = write_csv(churn_table(10, seed=3), tmp_path / "small.csv")

    code = check("--baseline", str(files["baseline"]), "--data", str(small), "--json")

    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["status"] == "insufficient_data"
    assert "insufficient data" in captured.err and "min_samples=30" in captured.err


def test_a_prediction_column_is_compared_with_the_target_and_the_target_is_not(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check("--baseline", str(files["baseline"]), "--data", str(files["same"]), "--json")
    assert json_out(capsys)["prediction"] is None  # same.csv has churned, no prediction column

    lines = files["same"].read_text().splitlines()
    header = lines[0].replace("churned", "prediction")
    predicted = tmp_path / "predicted.csv"
    predicted.write_text(
        "\n".join([header, *[line.rsplit(",", 1)[0] + ",true" for line in lines[1:]]]) + "\n"
    )

    code = check("--baseline", str(files["baseline"]), "--data", str(predicted), "--json")

    summary = json_out(capsys)
    assert code == 0  # predictions do not count in the drift share
    assert summary["prediction"]["drifted"] is True  # every prediction is true
    assert summary["prediction"]["window_size"] == len(lines) - 1


def test_html_writes_the_report_of_the_check(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "reports" / "drift.html"

    code = check(
        "--baseline",
        str(files["baseline"]),
        "--data",
        str(files["shifted"]),
        "--contract",
        str(CONTRACT),
        "--html",
        str(page),
    )

    text = page.read_text()
    assert code == 1
    assert text.count("<svg") == len(FEATURES)
    assert "shifted.csv: 500 rows" in text
    assert f"HTML report: {page}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda d, f: ["--baseline", str(d / "none.json"), "--data", str(f["same"])], "no baseline file at"),
        (lambda d, f: ["--baseline", str(f["train"]), "--data", str(f["same"])], "is not a drift baseline"),
        (lambda d, f: ["--baseline", str(f["baseline"]), "--data", str(d / "none.csv")], "no data file at"),
        (
            lambda d, f: ["--baseline", str(f["baseline"]), "--data", str(d / "no_plan.csv")],
            "has no column plan",
        ),
        (lambda d, f: ["--baseline", str(f["baseline"]), "--data", str(d / "text.csv")], "cannot read"),
        (
            lambda d, f: [
                "--baseline",
                str(f["baseline"]),
                "--data",
                str(f["same"]),
                "--contract",
                str(d / "bad.yaml"),
            ],
            "drift.features.plan.method",
        ),
        (
            lambda d, f: [
                "--baseline",
                str(f["baseline"]),
                "--data",
                str(f["same"]),
                "--contract",
                str(d / "other.yaml"),
            ],
            "the contract is for dataset 'fraud' but the baseline for 'churn'",
        ),
        (
            lambda d, f: ["--baseline", str(f["baseline"]), "--data", str(f["same"]), "--drift-share", "0"],
            "--drift-share must be above 0",
        ),
    ],
)
def test_check_usage_errors_exit_2_naming_the_problem(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], args: Any, message: str
) -> None:
    lines = files["same"].read_text().splitlines()
    header = lines[0].split(",")
    drop = header.index("plan")
    (tmp_path / "no_plan.csv").write_text(
        "\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines) + "\n"
    )
    tenure = header.index("tenure_months")
    bad_row = lines[1].split(",")
    bad_row[tenure] = "many"
    (tmp_path / "text.csv").write_text("\n".join([lines[0], ",".join(bad_row), *lines[2:]]) + "\n")
    (tmp_path / "bad.yaml").write_text(
        CONTRACT.read_text() + "\n" + "drift:\n  features:\n    plan: {method: ks}\n"
    )
    document = yaml.safe_load(CONTRACT.read_text())
    document["dataset"] = "fraud"
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(document))

    code = check(*args(tmp_path, files))

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""


# --- against a stack (moto) -------------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
IMPORTANCE = {
    "autopay": 0.09,
    "support_tickets": 0.07,
    "tenure_months": 0.05,
    "plan": 0.02,
    "monthly_charges": 0.01,
}


@dataclass
class DeployedStack:
    """A stack's outputs, its data bucket and registry table in moto, with churn v1 in production."""

    s3: Any
    registry: DynamoDBModelRegistry
    store: S3ObjectStore

    def capture(self, day: str, table: pa.Table) -> None:
        records = [
            CaptureRecord(
                model="churn",
                version=1,
                request_id=f"req-{i}",
                time=datetime.fromisoformat(f"{day}T09:00:00+00:00"),
                index=0,
                features={k: row[k] for k in FEATURES},
                prediction=row["churned"],
            )
            for i, row in enumerate(table.to_pylist())
        ]
        body = gzip.compress(b"".join(r.to_line() for r in records))
        self.s3.put_object(Bucket=BUCKET, Key=f"capture/churn/dt={day}/part-0.gz", Body=body)


TEMPLATE = {
    "Resources": {
        "DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}},
        "RegistryTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": TABLE,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
            },
        },
    },
    "Outputs": {
        "DataBucketName": {"Value": {"Ref": "DataBucket"}},
        "RegistryTableName": {"Value": {"Ref": "RegistryTable"}},
        "EventBusName": {"Value": "mlops-bus"},
    },
}


@pytest.fixture
def deployed(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[DeployedStack]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK, TemplateBody=json.dumps(TEMPLATE)
        )
        s3 = boto3.client("s3", region_name=REGION)
        registry = DynamoDBModelRegistry(boto3.client("dynamodb", region_name=REGION), TABLE)
        prefix = "models/churn/run-1"
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/baseline.json", Body=files["baseline"].read_bytes())
        s3.put_object(Bucket=BUCKET, Key="contracts/churn.yaml", Body=CONTRACT.read_bytes())
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/manifest.json", Body=manifest().encode())
        registry.register(
            "churn",
            artifact_uri=f"s3://{BUCKET}/{prefix}/model.skops",
            artifact_sha256="a" * 64,
            manifest_uri=f"s3://{BUCKET}/{prefix}/manifest.json",
            baseline_uri=f"s3://{BUCKET}/{prefix}/baseline.json",
            metrics={"roc_auc": 0.8},
            primary_metric="roc_auc",
            lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
            actor="test",
        )
        registry.approve("churn", 1, actor="test")
        registry.promote("churn", 1, actor="test")
        yield DeployedStack(s3, registry, S3ObjectStore(s3, BUCKET))


def manifest() -> str:
    from mlops_core.training.features import feature_fields

    contract = load_contract(CONTRACT.read_text())
    return ModelManifest(
        model_name="churn",
        task="classification",
        estimator="hist_gradient_boosting",
        metrics={"roc_auc": 0.8},
        primary_metric="roc_auc",
        target="churned",
        feature_signature=feature_fields(contract),
        contract_version=1,
        contract_sha256=contract.fingerprint(),
        libraries=library_versions(),
        artifact_sha256="a" * 64,
        trained_at=NOW,
        feature_importance=[
            FeatureImportance(feature=name, importance_mean=value, importance_std=0.0)
            for name, value in IMPORTANCE.items()
        ],
    ).model_dump_json(by_alias=True)


def on_stack(*args: str) -> list[str]:
    return [*args, "--stack", STACK, "--region", REGION]


def test_check_model_reads_the_production_baseline_and_the_stacks_contract(
    deployed: DeployedStack, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "check.html"

    code = check(
        *on_stack("--model", "churn", "--data", str(files["shifted"]), "--json", "--html", str(page))
    )

    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 1
    # The stack's contract applies: its drift_share (0.3), not the default 0.5.
    assert summary["drift_share_threshold"] == drift_spec(load_contract(CONTRACT.read_text())).drift_share
    assert {name for name, f in summary["features"].items() if f["drifted"]} == SHIFTED
    assert "contracts/churn.yaml from the stack's bucket" in captured.err
    # The HTML orders the features by the manifest's importance.
    text = page.read_text()
    positions = [text.index(f'href="#feature-{i}">{name}<') for i, name in enumerate(IMPORTANCE)]
    assert positions == sorted(positions)
    assert "churn v1" in text


def test_check_model_version_and_stack_errors_exit_2(
    deployed: DeployedStack, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data", str(files["same"])]
    assert check(*on_stack("--model", "churn:1", *data)) == 0
    capsys.readouterr()

    assert check(*on_stack("--model", "churn:2", *data)) == 2
    assert "has no version 2" in capsys.readouterr().err
    assert check(*on_stack("--model", "fraud", *data)) == 2
    assert "model 'fraud' has no production version" in capsys.readouterr().err
    assert check("--model", "churn", *data, "--stack", "nope", "--region", REGION) == 2
    assert "no CloudFormation stack 'nope'" in capsys.readouterr().err


def test_report_shows_the_scheduled_checks_report_and_exits_1_on_drift(
    deployed: DeployedStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.capture("2026-11-19", shifted(400, seed=21))
    states = InMemoryDriftStateStore()
    stored = check_model_drift(
        "churn", registry=deployed.registry, store=deployed.store, states=states, now=NOW, run_id="r1"
    )
    assert stored.status == "drift"
    page = tmp_path / "report.html"

    code = main(["drift", "report", *on_stack("churn", "--json", "--html", str(page))])

    captured = capsys.readouterr()
    assert code == 1
    assert DriftReport.model_validate_json(captured.out) == stored
    assert DriftReport.model_validate_json(deployed.store.read_text(latest_key("churn"))) == stored
    text = page.read_text()
    assert text.count("<svg") == len(stored.features) + 1  # and the predictions
    assert stored.window is not None and f"{stored.window.start} to {stored.window.end}" in text

    assert main(["drift", "report", *on_stack("churn", "--run", "r1")]) == 1
    out = capsys.readouterr().out
    assert "DRIFT churn" in out and all(name in out for name in FEATURES)


def test_report_errors_name_what_is_missing(
    deployed: DeployedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", "report", *on_stack("churn")]) == 2
    assert "has not been checked yet" in capsys.readouterr().err
    assert main(["drift", "report", *on_stack("churn", "--run", "../../secrets")]) == 2
    assert "is not a run id" in capsys.readouterr().err
    deployed.s3.put_object(Bucket=BUCKET, Key=latest_key("churn"), Body=b'{"model": "churn"}')
    assert main(["drift", "report", *on_stack("churn")]) == 2
    assert "is not a drift report" in capsys.readouterr().err

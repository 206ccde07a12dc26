"""`mlops demo`: the bundle deployed from template.yaml into the local cloud, fed realistic data.

Deploys the stack into moto, publishes the example contract with the same command a user
runs, uploads a clean dataset and five broken ones, lets the events flow through the
template's own rules, and prints a timeline, the verdicts and where every report is.
Each pipeline stage adds its step here. Exits 1 if any step does not do what it should.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_core.registry import DynamoDBModelRegistry
from mlops_core.validation import ValidationReport

from .contract_store import push_contract
from .lambda_runtime import REPO_ROOT
from .local.cloud import LocalCloud, local_cloud
from .local.event_router import Delivery
from .local.function_urls import url_event
from .local.runtime import Invocation
from .local.stack import DeployedStack
from .models_cli import approve_version
from .report_view import render_report
from .sample_data import churn_table, shifted_churn_table, write_csv, write_examples
from .status_cli import show_status

CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
#: The approval policy's floor for the demo: a model above it is approved by policy.
DEMO_PARAMETERS = {"ApprovalMetricFloor": "0.55", "DeploymentStrategy": "Canary10Percent5Minutes"}
FEATURES = ("tenure_months", "monthly_charges", "plan", "support_tickets", "autopay")
HOUR = 3600


@dataclass
class _Step:
    seconds: float
    what: str
    detail: str


class _Timeline:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.perf_counter()
        self.steps: list[_Step] = []

    def add(self, what: str, detail: str) -> None:
        step = _Step(time.perf_counter() - self.started, what, detail)
        self.steps.append(step)
        self.console.print(f"  [dim]{step.seconds:6.2f}s[/] {escape(what):<22} {escape(detail)}")


def run_demo(console: Console, out: Path | None = None) -> int:
    folder = out or Path(tempfile.mkdtemp(prefix="mlops-demo-"))
    logs = folder / "function-logs.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]mlops demo: the bundle in the local cloud")
    timeline = _Timeline(console)
    outcomes: list[dict[str, object]] = []  # validate_dataset's, one per upload

    def on_invocation(invocation: Invocation) -> None:
        result = invocation.result if isinstance(invocation.result, dict) else {}
        if not invocation.ok:
            timeline.add(f"{invocation.function} failed", invocation.error or "")
        elif invocation.function == "ValidateDatasetFunction":
            outcomes.append(result)
            verdict = "validated" if result.get("valid") else "quarantined"
            timeline.add(verdict, str(result.get("destination_uri")).removeprefix(f"s3://{bucket_of[0]}/"))
        elif invocation.function == "TrainModelFunction":
            timeline.add(f"training {result.get('status')}", str(result.get("reason")))
        elif invocation.function == "RegisterModelFunction":
            version = f"v{result['version']} " if result.get("version") else ""
            timeline.add(f"model {version}{result.get('status')}", str(result.get("reason")))
        elif invocation.function == "CheckDriftFunction":
            for check in result.get("models") or []:
                timeline.add("drift check", _drift_line(check))
        elif invocation.function == "DeployModelFunction" and result.get("deployment_id"):
            timeline.add(
                f"rollout {result.get('status')}",
                f"{result.get('deployment_id')} ({result.get('strategy')}) on predict version "
                f"{result.get('function_version')}",
            )

    def on_dispatch(delivery: Delivery) -> None:
        target = stack_of[0].function_by_arn(delivery.target_arn) if stack_of else None
        name = target.logical_id if target is not None else _logical(delivery.target_arn)
        timeline.add(delivery.detail_type, f"{_logical(delivery.rule)} -> {name}")

    bucket_of = [""]
    stack_of: list[DeployedStack] = []
    with (
        logs.open("w") as log_stream,
        local_cloud(
            parameters=DEMO_PARAMETERS,
            log_stream=log_stream,
            on_invocation=on_invocation,
            on_dispatch=on_dispatch,
        ) as cloud,
    ):
        bucket_of[0] = cloud.bucket
        stack_of.append(cloud.stack)
        timeline.add("stack deployed", f"{cloud.stack.name}: {len(cloud.stack.physical_ids)} resources")
        timeline.add("data bucket", f"s3://{cloud.bucket}/")
        uri = push_contract(cloud.s3, cloud.bucket, CONTRACT)
        timeline.add("contract published", uri.removeprefix(f"s3://{cloud.bucket}/"))
        examples = write_examples(folder / "incoming" / "churn")
        surprises = 0
        for example, path in examples:
            key = f"incoming/churn/{path.name}"
            cloud.s3.upload_file(str(path), cloud.bucket, key)
            timeline.add("uploaded", f"{key}  ({example.story})")
            before = len(outcomes)
            cloud.settle()
            produced = outcomes[before:]
            if len(produced) != 1 or bool(produced[0].get("valid")) != example.expect_valid:
                surprises += 1
        surprises += _rollout(cloud, timeline, folder)
        surprises += _drift(cloud, timeline, folder, console)
        models = _models_table(cloud)
        status = io.StringIO()
        show_status(cloud.session, Console(file=status, width=console.width), stack=cloud.stack.name)
        console.print()
        reports = _download_reports(cloud.s3, cloud.bucket, outcomes, folder)
        bucket = cloud.bucket
    for name, report in reports:
        if not report.valid:
            render_report(console, report, name)
    _summary(console, outcomes, bucket)
    console.print(models)
    console.print(status.getvalue(), end="")
    console.print(f"reports downloaded to {folder / 'reports' / 'validation'}")
    console.print(f"function logs (JSON lines, as CloudWatch would hold them): {logs}")
    if surprises:
        console.print(f"[bold red]{surprises} example(s) did not get the verdict they were made for[/]")
        return 1
    console.print("[bold green]every upload got the verdict it was made for.[/]")
    return 0


def _rollout(cloud: LocalCloud, timeline: _Timeline, folder: Path) -> int:
    """Traffic on the live model, a second model as a canary, the bake, the final state."""
    served = _send_traffic(cloud, 20)
    timeline.add("traffic", f"20 requests to the function URL: {_shares(served)}")
    if set(served) != {"churn v1"}:
        return 1
    newer = write_csv(churn_table(2000, seed=21), folder / "incoming" / "churn" / "churn_2026-12.csv")
    cloud.s3.upload_file(str(newer), cloud.bucket, "incoming/churn/churn_2026-12.csv")
    timeline.add("uploaded", "incoming/churn/churn_2026-12.csv  (next month's export)")
    cloud.settle()
    registry = DynamoDBModelRegistry(
        cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"]
    )
    if registry.get("churn", 2).status.value == "PendingManualApproval":
        quiet = io.StringIO()
        approve_version(
            cloud.session,
            Console(file=quiet),
            "churn:2",
            stack=cloud.stack.name,
            actor="alice",
            reason="reviewed the held-out metrics",
        )
        timeline.add("approved by a person", "mlops models approve churn:2 (alice)")
        cloud.settle()
    served = _send_traffic(cloud, 100)
    timeline.add("canary traffic", f"100 requests: {_shares(served)}")
    cloud.advance(6 * 60)
    timeline.add("clock +6 min", "the canary baked without alarms")
    served = _send_traffic(cloud, 20)
    timeline.add("traffic", f"20 requests: {_shares(served)}")
    return 0 if set(served) == {"churn v2"} else 1


def _drift(cloud: LocalCloud, timeline: _Timeline, folder: Path, console: Console) -> int:
    """Hourly checks on live traffic: stable, then a shifted population confirmed 2 of 3, the
    alert and the HTML report; fresh labelled data then trains the next version, rolled out."""
    inbox = subscribe_alert_inbox(cloud)
    _send_batch(cloud, churn_table(400, seed=41).to_pylist())
    timeline.add("traffic", "400 instances like the training data")
    cloud.advance(HOUR)
    shifted = shifted_churn_table(800, seed=42).to_pylist()
    _send_batch(cloud, shifted)
    timeline.add("traffic", "800 instances of a shifted population (pro plan, higher charges)")
    cloud.advance(HOUR)
    cloud.advance(HOUR)
    alerts = read_alert_inbox(cloud, inbox)
    for subject, message in alerts:
        timeline.add("alert (SNS)", subject)
        console.print(f"[bold red]{escape(subject)}[/]\n{escape(message)}\n")
    page = folder / "reports" / "drift" / "churn.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_bytes(
        cloud.s3.get_object(Bucket=cloud.bucket, Key="reports/drift/churn/latest.html")["Body"].read()
    )
    timeline.add("drift report", f"{page} (open it in a browser)")
    if len(alerts) != 1:
        timeline.add("unexpected", f"{len(alerts)} alerts instead of one")
        return 1
    export = write_csv(
        shifted_churn_table(2000, seed=43), folder / "incoming" / "churn" / "churn_2027-03.csv"
    )
    cloud.s3.upload_file(str(export), cloud.bucket, "incoming/churn/churn_2027-03.csv")
    timeline.add("uploaded", "incoming/churn/churn_2027-03.csv  (labelled data of the new population)")
    cloud.settle()
    registry = DynamoDBModelRegistry(
        cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"]
    )
    if registry.get("churn", 3).status.value == "PendingManualApproval":
        approve_version(
            cloud.session,
            Console(file=io.StringIO()),
            "churn:3",
            stack=cloud.stack.name,
            actor="alice",
            reason="trained on the population the drift report shows",
        )
        timeline.add("approved by a person", "mlops models approve churn:3 (alice)")
        cloud.settle()
    cloud.advance(6 * 60)
    timeline.add("clock +6 min", "the canary baked without alarms")
    served = _send_batch(cloud, shifted_churn_table(400, seed=44).to_pylist())
    timeline.add("traffic", f"400 instances of the new population: {_shares(served)}")
    cloud.advance(HOUR)
    latest = json.loads(
        cloud.s3.get_object(Bucket=cloud.bucket, Key="reports/drift/churn/latest.json")["Body"].read()
    )
    if set(served) != {"churn v3"} or (latest["version"], latest["status"]) != (3, "ok"):
        timeline.add(
            "unexpected", f"served {dict(served)}; last drift check {latest['version']}: {latest['status']}"
        )
        return 1
    return 0


def _drift_line(check: dict[str, object]) -> str:
    status = str(check.get("status"))
    if check.get("version") is None:
        return f"{check.get('model')}: {status} ({check.get('reason')})"
    share = check.get("drift_share")
    drifted = ", ".join(str(f) for f in check.get("drifted_features") or []) or "no feature"  # type: ignore[attr-defined]
    line = f"{check.get('model')} v{check.get('version')}: {status}"
    if isinstance(share, float):
        line += f", {share:.0%} of features drifted ({drifted})"
    if check.get("alert"):
        line += "; CONFIRMED, alert sent"
    elif check.get("confirmed"):
        line += "; confirmed"
    return line


def subscribe_alert_inbox(cloud: LocalCloud, name: str = "demo-alert-inbox") -> str:
    """A queue on the alert topic: what an e-mail subscriber would receive."""
    sqs = cloud.session.client("sqs")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.session.client("sns").subscribe(
        TopicArn=cloud.stack.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=arn
    )
    return url


def read_alert_inbox(cloud: LocalCloud, url: str) -> list[tuple[str, str]]:
    """The (subject, message) of the alerts delivered since the last read."""
    messages = cloud.session.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    return [(str(b.get("Subject")), str(b.get("Message"))) for b in bodies]


def _send_batch(cloud: LocalCloud, rows: list[dict[str, object]], per_request: int = 200) -> Counter[str]:
    """``per_request`` instances a request (a batch-scoring client sends 200); who answered each."""
    predict = cloud.stack.function("PredictFunction")
    served: Counter[str] = Counter()
    for start in range(0, len(rows), per_request):
        instances = [{k: row[k] for k in FEATURES} for row in rows[start : start + per_request]]
        body = json.dumps({"instances": instances}).encode()
        event = url_event("POST", "/predict", {"content-type": "application/json"}, body, predict)
        answer = json.loads(cloud.runtime.invoke(predict, event, "live")["body"])
        served[f"{answer.get('model')} v{answer.get('version')}"] += len(instances)
    return served


def _send_traffic(cloud: LocalCloud, requests: int) -> Counter[str]:
    """``requests`` single-instance requests, as an interactive client sends them."""
    return _send_batch(cloud, churn_table(requests, seed=99).to_pylist(), per_request=1)


def _shares(served: Counter[str]) -> str:
    total = sum(served.values())
    return ", ".join(f"{name} {count / total:.0%}" for name, count in served.most_common())


def _models_table(cloud: LocalCloud) -> Table:
    registry = DynamoDBModelRegistry(
        cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"]
    )
    table = Table(title="model registry", header_style="bold")
    for heading in ("model", "version", "status", "primary metric", "decided by", "why"):
        table.add_column(heading, overflow="fold")
    for model in registry.list_models():
        for version in registry.list_versions(model):
            metric = f"{version.primary_metric} {version.metrics[version.primary_metric]:.3f}"
            table.add_row(
                escape(model),
                str(version.version),
                version.status.value,
                metric,
                escape(version.approved_by or "-"),
                escape(version.status_reason or "-"),
            )
    return table


def _logical(physical: str) -> str:
    """mlops-local-ValidateDatasetFunction-V6I3K09E48AJ (or its ARN) -> ValidateDatasetFunction."""
    name = physical.rsplit(":", 1)[-1]
    parts = name.split("-")
    return parts[-2] if len(parts) >= 3 else name


def _download_reports(
    s3: object, bucket: str, outcomes: list[dict[str, object]], folder: Path
) -> list[tuple[str, ValidationReport]]:
    reports: list[tuple[str, ValidationReport]] = []
    for outcome in outcomes:
        key = str(outcome["report_uri"]).removeprefix(f"s3://{bucket}/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
        local = folder / key
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(body)
        report = ValidationReport.model_validate_json(body)
        reports.append((Path(report.source.uri).name, report))
    return reports


def _summary(console: Console, outcomes: list[dict[str, object]], bucket: str) -> None:
    table = Table(title=f"data gate: where everything went in s3://{bucket}/", header_style="bold")
    for heading in ("verdict", "rows", "violations", "copy", "report"):
        table.add_column(heading, overflow="fold")
    for outcome in outcomes:
        violations = outcome.get("violations") or {}
        table.add_row(
            "[green]validated[/]" if outcome["valid"] else "[red]quarantined[/]",
            str(outcome["rows"]),
            escape(", ".join(f"{k} {v}" for k, v in dict(violations).items()) or "-"),  # type: ignore[call-overload]
            escape(str(outcome.get("destination_uri") or "-").removeprefix(f"s3://{bucket}/")),
            escape(str(outcome["report_uri"]).removeprefix(f"s3://{bucket}/")),
        )
    console.print(table)

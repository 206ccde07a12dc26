"""The deployment adapters (boto3) on moto: Lambda versions and alias, Scheduler, CloudWatch, DynamoDB.

The predict function is created from a one-line zip and never runs: only its configuration,
versions and alias matter here.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops_core.deployment import Deployment, DeploymentConflict, DeploymentStatus, advance_deployment
from mlops_core.deployment import start_deployment as start
from mlops_core.deployment_adapters import (
    CloudWatchAlarms,
    DynamoDBDeploymentStore,
    LambdaFunctionVersions,
    SchedulerStepScheduler,
    at_expression,
    schedule_name,
)
from mlops_core.events import InMemoryPublisher, ModelDeployed
from mlops_core.registry import InMemoryModelRegistry

from ..unit.test_registry import MODEL, approved
from .conftest import REGION

pytestmark = pytest.mark.integration

FUNCTION = "mlops-predict-test"
DEPLOYER = "mlops-deploy-model-test"
TABLE = "mlops-deployments-test"
T0 = datetime(2025, 3, 1, 12, 0, 30, 250_000, tzinfo=UTC)
BINDING = {
    "MODEL_NAME": "churn",
    "MODEL_VERSION": "7",
    "ARTIFACT_URI": "s3://data/models/churn/run-7/model.skops",
    "ARTIFACT_SHA256": "a" * 64,
    "MANIFEST_URI": "s3://data/models/churn/run-7/manifest.json",
}


@dataclass
class Aws:
    lambda_: Any
    scheduler: Any
    cloudwatch: Any
    dynamodb: Any
    role_arn: str
    deployer_arn: str


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[Aws]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        role_arn = iam.create_role(
            RoleName="lambda-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        lambda_ = boto3.client("lambda", region_name=REGION)
        common = {
            "Runtime": "python3.12",
            "Role": role_arn,
            "Handler": "app.handler",
            "Code": {"ZipFile": _zip()},
        }
        lambda_.create_function(
            FunctionName=FUNCTION,
            Environment={"Variables": {"DATA_BUCKET": "data", "MODEL_VERSION": "old"}},
            **common,
        )
        deployer_arn = lambda_.create_function(FunctionName=DEPLOYER, **common)["FunctionArn"]
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
        yield Aws(
            lambda_=lambda_,
            scheduler=boto3.client("scheduler", region_name=REGION),
            cloudwatch=boto3.client("cloudwatch", region_name=REGION),
            dynamodb=dynamodb,
            role_arn=role_arn,
            deployer_arn=deployer_arn,
        )


def functions(aws: Aws) -> LambdaFunctionVersions:
    return LambdaFunctionVersions(aws.lambda_, FUNCTION, wait_delay=1, wait_attempts=5)


def steps(aws: Aws) -> SchedulerStepScheduler:
    return SchedulerStepScheduler(aws.scheduler, aws.deployer_arn, aws.role_arn)


# -- Lambda -------------------------------------------------------------------------------------


def test_a_published_version_carries_the_binding_merged_with_the_existing_variables(aws: Aws) -> None:
    versions = functions(aws)
    first = versions.publish_bound_version(BINDING)
    second = versions.publish_bound_version({**BINDING, "MODEL_VERSION": "8"})

    assert first != second
    pinned = aws.lambda_.get_function_configuration(FunctionName=FUNCTION, Qualifier=first)
    assert pinned["Environment"]["Variables"] == {"DATA_BUCKET": "data", **BINDING}
    later = aws.lambda_.get_function_configuration(FunctionName=FUNCTION, Qualifier=second)
    assert later["Environment"]["Variables"]["MODEL_VERSION"] == "8"


def test_only_binding_variables_may_be_set(aws: Aws) -> None:
    with pytest.raises(ValueError, match="not binding variables"):
        functions(aws).publish_bound_version({"DATA_BUCKET": "elsewhere"})


def test_the_alias_is_created_then_moved_with_its_routing_weights(aws: Aws) -> None:
    versions = functions(aws)
    assert versions.alias_state() == (None, {})
    v1 = versions.publish_bound_version(BINDING)
    v2 = versions.publish_bound_version({**BINDING, "MODEL_VERSION": "8"})

    versions.set_alias(v1, {})
    assert versions.alias_state() == (v1, {})
    versions.set_alias(v1, {v2: 0.1})
    assert versions.alias_state() == (v1, {v2: 0.1})
    alias = aws.lambda_.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {v2: 0.1}
    versions.set_alias(v2, {})
    assert versions.alias_state() == (v2, {})


# -- Scheduler ----------------------------------------------------------------------------------


def test_a_step_is_a_one_time_schedule_invoking_deploy_model(aws: Aws) -> None:
    scheduler = steps(aws)
    scheduler.schedule_step("churn-v7", 1, T0 + timedelta(minutes=5))
    scheduler.schedule_step("churn-v7", 1, T0 + timedelta(minutes=5))  # a retry: already there

    schedule = aws.scheduler.get_schedule(Name=schedule_name("churn-v7", 1))
    assert schedule["ScheduleExpression"] == "at(2025-03-01T12:05:31)"  # rounded up to the second
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == aws.deployer_arn
    assert schedule["Target"]["RoleArn"] == aws.role_arn
    assert json.loads(schedule["Target"]["Input"]) == {"deployment_id": "churn-v7", "step": 1}


def test_cancel_deletes_the_deployments_schedules_only(aws: Aws) -> None:
    scheduler = steps(aws)
    scheduler.schedule_step("churn-v1", 1, T0)
    scheduler.schedule_step("churn-v1", 2, T0)
    scheduler.schedule_step("churn-v10", 1, T0)
    scheduler.cancel("churn-v1")
    scheduler.cancel("churn-v1")  # nothing left: no error
    names = [s["Name"] for s in aws.scheduler.list_schedules()["Schedules"]]
    assert names == [schedule_name("churn-v10", 1)]


def test_schedule_names_fit_scheduler_limits() -> None:
    name = schedule_name("m" * 63 + "-v1234567890", 999)
    assert len(name) <= 64
    assert at_expression(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == "at(2025-01-02T03:04:05)"


# -- CloudWatch ---------------------------------------------------------------------------------


def test_alarms_watch_the_new_version_behind_the_alias(aws: Aws) -> None:
    alarms = CloudWatchAlarms(aws.cloudwatch, FUNCTION, p99_threshold_ms=800)
    names = alarms.create_for("7")
    assert names == [f"{FUNCTION}-v7-errors", f"{FUNCTION}-v7-p99-duration"]

    described = {a["AlarmName"]: a for a in aws.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    errors, latency = described[names[0]], described[names[1]]
    # errors: Lambda's (crashes, timeouts) plus the 5xx predict answers, both of version 7
    queries = {q["Id"]: q for q in errors["Metrics"]}
    crashes, answered = queries["crashes"]["MetricStat"], queries["answered"]["MetricStat"]
    dimensions = {d["Name"]: d["Value"] for d in crashes["Metric"]["Dimensions"]}
    assert dimensions == {"FunctionName": FUNCTION, "Resource": f"{FUNCTION}:live", "ExecutedVersion": "7"}
    assert (crashes["Metric"]["Namespace"], crashes["Metric"]["MetricName"]) == ("AWS/Lambda", "Errors")
    own = {d["Name"]: d["Value"] for d in answered["Metric"]["Dimensions"]}
    assert (answered["Metric"]["Namespace"], answered["Metric"]["MetricName"]) == (
        "MLOpsBundle",
        "ServerErrors",
    )
    assert own == {"service": "predict", "function_version": "7"}
    assert {crashes["Stat"], answered["Stat"], crashes["Period"]} == {"Sum", 60}
    assert queries["errors"]["Expression"] == "FILL(crashes, 0) + FILL(answered, 0)"
    assert queries["errors"]["ReturnData"] is True
    assert (errors["Threshold"], errors["ComparisonOperator"]) == (0.0, "GreaterThanThreshold")
    latency_dimensions = {d["Name"]: d["Value"] for d in latency["Dimensions"]}
    assert latency_dimensions == dimensions
    assert latency["Period"] == 60
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "Duration",
        "p99",
        800,
    )

    assert alarms.in_alarm(names) == []
    aws.cloudwatch.set_alarm_state(AlarmName=names[1], StateValue="ALARM", StateReason="test")
    assert alarms.in_alarm(names) == [names[1]]


# -- DynamoDB -----------------------------------------------------------------------------------


def record(
    status: DeploymentStatus = DeploymentStatus.IN_PROGRESS, step: int = 0, **changes: Any
) -> Deployment:
    fields: dict[str, Any] = {
        "deployment_id": "churn-v7",
        "model": "churn",
        "model_version": 7,
        "function_version": "3",
        "previous_function_version": "2",
        "strategy": "Canary10Percent5Minutes",
        "step": step,
        "status": status,
        "alarms": ["a", "b"],
        "started_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return Deployment(**fields)


def test_retiring_a_versions_alarms_deletes_them_once_and_leaves_the_others(aws: Aws) -> None:
    alarms = CloudWatchAlarms(aws.cloudwatch, FUNCTION)
    kept = alarms.create_for("3")
    alarms.create_for("2")

    alarms.retire("2")
    alarms.retire("2")  # a retried run: nothing left to delete, no error

    names = [a["AlarmName"] for a in aws.cloudwatch.describe_alarms()["MetricAlarms"]]
    assert sorted(names) == sorted(kept)


def test_the_store_round_trips_and_points_the_alias_at_the_started_deployment(aws: Aws) -> None:
    store = DynamoDBDeploymentStore(aws.dynamodb, TABLE)
    assert store.get("churn-v7") is None
    assert store.current("live") is None
    started = record()
    store.put(started)
    assert store.get("churn-v7") == started
    assert store.current("live") == started
    other = record(deployment_id="churn-v8", model_version=8)
    store.put(other)
    assert store.current("live") == other
    assert store.get("churn-v7") == started


def test_the_store_writes_are_conditional(aws: Aws) -> None:
    store = DynamoDBDeploymentStore(aws.dynamodb, TABLE)
    store.put(record())
    with pytest.raises(DeploymentConflict):
        store.put(record())  # a second start while it is in progress
    with pytest.raises(DeploymentConflict):
        store.put(record(step=1), DeploymentStatus.SUCCEEDED)
    with pytest.raises(DeploymentConflict):
        store.put(record(step=1), DeploymentStatus.IN_PROGRESS, expected_step=4)
    store.put(record(step=1), DeploymentStatus.IN_PROGRESS, expected_step=0)
    done = record(DeploymentStatus.SUCCEEDED, step=1)
    store.put(done, DeploymentStatus.IN_PROGRESS, expected_step=1)
    assert store.get("churn-v7") == done
    restarted = record(started_at=T0 + timedelta(hours=1))
    store.put(restarted)  # a finished deployment may be started again
    assert store.current("live") == restarted


# -- everything together ------------------------------------------------------------------------


def test_a_canary_rollout_on_the_aws_adapters(aws: Aws) -> None:
    registry = InMemoryModelRegistry()
    ports: dict[str, Any] = {
        "registry": registry,
        "functions": functions(aws),
        "scheduler": steps(aws),
        "alarms": CloudWatchAlarms(aws.cloudwatch, FUNCTION),
        "store": DynamoDBDeploymentStore(aws.dynamodb, TABLE),
        "publisher": InMemoryPublisher(),
    }
    v1, v2 = approved(registry, "a"), approved(registry, "b")
    first = start(MODEL, v1.version, "AllAtOnce", now=T0, **ports)
    second = start(MODEL, v2.version, "Canary10Percent5Minutes", now=T0, **ports)
    assert ports["functions"].alias_state() == (first.function_version, {second.function_version: 0.1})
    [pending] = aws.scheduler.list_schedules()["Schedules"]
    assert json.loads(aws.scheduler.get_schedule(Name=pending["Name"])["Target"]["Input"]) == {
        "deployment_id": second.deployment_id,
        "step": 1,
    }
    done = advance_deployment(second.deployment_id, 1, now=T0 + timedelta(minutes=5), **ports)
    assert done is not None
    assert done.status == DeploymentStatus.SUCCEEDED
    assert ports["functions"].alias_state() == (second.function_version, {})
    assert isinstance(ports["publisher"].published[-1], ModelDeployed)

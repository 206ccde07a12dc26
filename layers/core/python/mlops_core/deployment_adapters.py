"""The ports of :mod:`mlops_core.deployment` on AWS (boto3 clients given by the caller), and fakes.

- :class:`LambdaFunctionVersions`: predict's versions and its ``live`` alias (Lambda).
- :class:`SchedulerStepScheduler`: one-time EventBridge Scheduler schedules invoking deploy_model.
- :class:`CloudWatchAlarms`: the errors and p99 latency alarms of a new version (CloudWatch).
- :class:`DynamoDBDeploymentStore`: deployment records with conditional writes (DynamoDB).

The ``InMemory*`` classes are the fakes unit tests run the state machine on. See docs/rollout.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.deployment import Deployment, DeploymentConflict, DeploymentStatus
from mlops_core.endpoint_metrics import SERVER_ERRORS_METRIC, SERVICE, VERSION_DIMENSION

BINDING_VARIABLES = ("MODEL_NAME", "MODEL_VERSION", "ARTIFACT_URI", "ARTIFACT_SHA256", "MANIFEST_URI")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ConcurrentFunctionChange(RuntimeError):
    """$LATEST changed between our update and our publish; the invocation should be retried."""


# -- Lambda -----------------------------------------------------------------------------------


class LambdaFunctionVersions:
    """predict's published versions and its alias, through a boto3 Lambda client."""

    def __init__(
        self,
        client: Any,
        function_name: str,
        alias: str = "live",
        *,
        wait_delay: int = 1,
        wait_attempts: int = 120,
    ) -> None:
        self._client = client
        self.function_name = function_name
        self.alias = alias
        self._wait = {"Delay": wait_delay, "MaxAttempts": wait_attempts}

    def publish_bound_version(self, binding: Mapping[str, str]) -> str:
        unknown = sorted(set(binding) - set(BINDING_VARIABLES))
        if unknown:
            raise ValueError(f"not binding variables: {unknown}; expected some of {BINDING_VARIABLES}")
        configuration = self._client.get_function_configuration(FunctionName=self.function_name)
        # Lambda's variables are strings; moto hands numbers back as numbers, and boto3 then
        # refuses to send them, so every value is written back as text.
        variables = {k: str(v) for k, v in configuration.get("Environment", {}).get("Variables", {}).items()}
        variables.update(binding)
        updated = self._client.update_function_configuration(
            FunctionName=self.function_name, Environment={"Variables": variables}
        )
        # function_updated polls GetFunctionConfiguration, which the role has (the _v2 waiter
        # polls GetFunction, which it does not need).
        self._client.get_waiter("function_updated").wait(
            FunctionName=self.function_name, WaiterConfig=self._wait
        )
        # The revision is read once the update has finished (it changes when the update completes)
        # and must still hold what we wrote; publishing that revision then fails on any later change.
        settled = self._client.get_function_configuration(FunctionName=self.function_name)
        written = settled.get("Environment", {}).get("Variables", {})
        same_variables = {k: str(v) for k, v in written.items()} == variables
        if not same_variables or settled.get("CodeSha256") != updated.get("CodeSha256"):
            raise ConcurrentFunctionChange(
                f"{self.function_name} was changed by someone else while binding {dict(binding)}; retry"
            )
        # Lambda always returns RevisionId; moto 5.2 does not, hence the guard.
        revision = {"RevisionId": settled["RevisionId"]} if settled.get("RevisionId") else {}
        published = self._client.publish_version(
            FunctionName=self.function_name,
            Description=f"{binding.get('MODEL_NAME')} v{binding.get('MODEL_VERSION')}",
            **revision,
        )
        return str(published["Version"])

    def alias_state(self) -> tuple[str | None, dict[str, float]]:
        try:
            alias = self._client.get_alias(FunctionName=self.function_name, Name=self.alias)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None, {}
            raise
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        primary = str(alias["FunctionVersion"])
        if not weights and not self._serves_a_model(primary):
            # The bootstrap version CloudFormation made serves no model (503): there is no
            # traffic worth shifting gradually, so the first deployment goes all at once.
            return None, {}
        return primary, {str(k): float(v) for k, v in weights.items()}

    def _serves_a_model(self, version: str) -> bool:
        config = self._client.get_function_configuration(FunctionName=self.function_name, Qualifier=version)
        return bool(config.get("Environment", {}).get("Variables", {}).get("MODEL_NAME"))

    def set_alias(self, primary: str, additional: Mapping[str, float]) -> None:
        routing = {"AdditionalVersionWeights": {k: float(v) for k, v in additional.items()}}
        try:
            self._client.update_alias(
                FunctionName=self.function_name,
                Name=self.alias,
                FunctionVersion=primary,
                RoutingConfig=routing,
            )
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            self._client.create_alias(
                FunctionName=self.function_name,
                Name=self.alias,
                FunctionVersion=primary,
                RoutingConfig=routing,
            )


class InMemoryFunctionVersions:
    """Versions as a list of environments; every alias move is recorded in ``moves``."""

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        self.latest: dict[str, str] = dict(environment or {})
        self.versions: dict[str, dict[str, str]] = {}
        self.primary: str | None = None
        self.additional: dict[str, float] = {}
        self.moves: list[tuple[str, dict[str, float]]] = []

    def publish_bound_version(self, binding: Mapping[str, str]) -> str:
        self.latest.update(binding)
        number = str(len(self.versions) + 1)
        self.versions[number] = dict(self.latest)
        return number

    def alias_state(self) -> tuple[str | None, dict[str, float]]:
        return self.primary, dict(self.additional)

    def set_alias(self, primary: str, additional: Mapping[str, float]) -> None:
        self.primary, self.additional = primary, dict(additional)
        self.moves.append((primary, dict(additional)))


# -- EventBridge Scheduler ----------------------------------------------------------------------


def schedule_prefix(deployment_id: str) -> str:
    """Names are at most 64 characters: a readable head of the id plus a hash that keeps it unique."""
    digest = hashlib.sha256(deployment_id.encode()).hexdigest()[:8]
    return f"deploy-{deployment_id[:36]}-{digest}-s"


def schedule_name(deployment_id: str, step: int) -> str:
    return f"{schedule_prefix(deployment_id)}{step}"


def at_expression(at: datetime) -> str:
    """``at(...)`` in UTC, rounded up to the second (never earlier than asked)."""
    moment = at.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({moment:%Y-%m-%dT%H:%M:%S})"


class SchedulerStepScheduler:
    """One-time schedules (deleted after they run) whose target is the deploy_model function."""

    def __init__(
        self,
        client: Any,
        function_arn: str,
        role_arn: str,
        *,
        group_name: str = "default",
        dead_letter_arn: str | None = None,
    ) -> None:
        self._client = client
        self.function_arn = function_arn
        self.role_arn = role_arn
        self.group_name = group_name
        self.dead_letter_arn = dead_letter_arn

    def schedule_step(self, deployment_id: str, step: int, at: datetime) -> None:
        target: dict[str, Any] = {
            "Arn": self.function_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps({"deployment_id": deployment_id, "step": step}),
            "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        try:
            self._client.create_schedule(
                Name=schedule_name(deployment_id, step),
                GroupName=self.group_name,
                ScheduleExpression=at_expression(at),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target=target,
                Description=f"step {step} of deployment {deployment_id}",
            )
        except ClientError as error:
            if _code(error) != "ConflictException":  # already scheduled by an earlier attempt
                raise

    def cancel(self, deployment_id: str) -> None:
        request: dict[str, Any] = {"GroupName": self.group_name, "NamePrefix": schedule_prefix(deployment_id)}
        names: list[str] = []
        while True:
            response = self._client.list_schedules(**request)
            names.extend(s["Name"] for s in response.get("Schedules", []))
            if not response.get("NextToken"):
                break
            request["NextToken"] = response["NextToken"]
        for name in names:
            try:
                self._client.delete_schedule(Name=name, GroupName=self.group_name)
            except ClientError as error:
                if _code(error) != "ResourceNotFoundException":  # ran and deleted itself meanwhile
                    raise


class InMemoryStepScheduler:
    """Pending steps by schedule name; ``cancelled`` lists the deployments cancelled."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str, int, datetime]] = {}
        self.cancelled: list[str] = []

    def schedule_step(self, deployment_id: str, step: int, at: datetime) -> None:
        self.pending.setdefault(schedule_name(deployment_id, step), (deployment_id, step, at))

    def cancel(self, deployment_id: str) -> None:
        self.cancelled.append(deployment_id)
        for name in [n for n, (d, _, _) in self.pending.items() if d == deployment_id]:
            del self.pending[name]

    def pop_due(self) -> tuple[str, int, datetime]:
        """The earliest pending step, removed (as the schedule deletes itself after it ran)."""
        name = min(self.pending, key=lambda n: self.pending[n][2])
        return self.pending.pop(name)


# -- CloudWatch ---------------------------------------------------------------------------------


class CloudWatchAlarms:
    """Per-version alarms on the alias' metrics, split by executed version."""

    def __init__(
        self,
        client: Any,
        function_name: str,
        alias: str = "live",
        *,
        p99_threshold_ms: float = 1000.0,
        period_seconds: int = 60,
        alarm_actions: Sequence[str] = (),
        metrics_namespace: str = "MLOpsBundle",
    ) -> None:
        self._client = client
        self.function_name = function_name
        self.alias = alias
        self.p99_threshold_ms = p99_threshold_ms
        self.period_seconds = period_seconds
        self.alarm_actions = list(alarm_actions)
        self.metrics_namespace = metrics_namespace

    def names_for(self, function_version: str) -> list[str]:
        head = f"{self.function_name}-v{function_version}"
        return [f"{head}-errors", f"{head}-p99-duration"]

    def create_for(self, function_version: str) -> list[str]:
        errors, latency = self.names_for(function_version)
        lambda_dimensions = [
            {"Name": "FunctionName", "Value": self.function_name},
            {"Name": "Resource", "Value": f"{self.function_name}:{self.alias}"},
            {"Name": "ExecutedVersion", "Value": function_version},
        ]
        common: dict[str, Any] = {
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": self.alarm_actions,
        }
        # Lambda's Errors counts what the handler did not answer (a crash, a timeout); predict
        # answers a model that fails with a 500, counted in its own ServerErrors by version.
        self._client.put_metric_alarm(
            AlarmName=errors,
            AlarmDescription=(
                f"errors and 5xx answers of {self.function_name} version {function_version} (deploy_model)"
            ),
            Metrics=[
                self._stat("crashes", "AWS/Lambda", "Errors", lambda_dimensions),
                self._stat(
                    "answered",
                    self.metrics_namespace,
                    SERVER_ERRORS_METRIC,
                    [
                        {"Name": "service", "Value": SERVICE},
                        {"Name": VERSION_DIMENSION, "Value": function_version},
                    ],
                ),
                {"Id": "errors", "Expression": "FILL(crashes, 0) + FILL(answered, 0)", "ReturnData": True},
            ],
            Threshold=0.0,
            **common,
        )
        self._client.put_metric_alarm(
            AlarmName=latency,
            AlarmDescription=f"p99 duration of {self.function_name} v{function_version} (deploy_model)",
            Namespace="AWS/Lambda",
            Dimensions=lambda_dimensions,
            Period=self.period_seconds,
            MetricName="Duration",
            ExtendedStatistic="p99",
            Threshold=self.p99_threshold_ms,
            Unit="Milliseconds",
            **common,
        )
        return [errors, latency]

    def _stat(
        self, query_id: str, namespace: str, name: str, dimensions: list[dict[str, str]]
    ) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                "Period": self.period_seconds,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }

    def in_alarm(self, names: Sequence[str]) -> list[str]:
        firing: list[str] = []
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            request: dict[str, Any] = {"AlarmNames": list(names[start : start + 100])}
            while True:
                response = self._client.describe_alarms(**request)
                firing.extend(
                    a["AlarmName"] for a in response.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"
                )
                if not response.get("NextToken"):
                    break
                request["NextToken"] = response["NextToken"]
        return sorted(firing)

    def retire(self, function_version: str) -> None:
        names = self.names_for(function_version)
        # DeleteAlarms fails on a name that does not exist: a retried run deletes what is left.
        existing = [
            a["AlarmName"] for a in self._client.describe_alarms(AlarmNames=names).get("MetricAlarms", [])
        ]
        if existing:
            self._client.delete_alarms(AlarmNames=existing)


class InMemoryAlarms:
    """Alarm states by name; ``fire(name)`` puts one in ALARM."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def create_for(self, function_version: str) -> list[str]:
        names = [f"predict-v{function_version}-errors", f"predict-v{function_version}-p99-duration"]
        for name in names:
            self.states.setdefault(name, "INSUFFICIENT_DATA")
        return names

    def fire(self, name: str) -> None:
        self.states[name] = "ALARM"

    def in_alarm(self, names: Sequence[str]) -> list[str]:
        return sorted(n for n in names if self.states.get(n) == "ALARM")

    def retire(self, function_version: str) -> None:
        for name in (f"predict-v{function_version}-errors", f"predict-v{function_version}-p99-duration"):
            self.states.pop(name, None)


# -- DynamoDB -----------------------------------------------------------------------------------

RECORD_SK = "RECORD"
CURRENT_SK = "CURRENT"


def record_key(deployment_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": RECORD_SK}}


def current_key(alias: str) -> dict[str, Any]:
    return {"pk": {"S": f"LAMBDA_ALIAS#{alias}"}, "sk": {"S": CURRENT_SK}}


class DynamoDBDeploymentStore:
    """Deployment records on a table with string keys ``pk`` and ``sk`` (layout in docs/rollout.md)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def get(self, deployment_id: str) -> Deployment | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=record_key(deployment_id), ConsistentRead=True
        )
        item = response.get("Item")
        return Deployment.model_validate_json(item["document"]["S"]) if item else None

    def current(self, alias: str) -> Deployment | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=current_key(alias), ConsistentRead=True
        )
        item = response.get("Item")
        return self.get(item["deployment_id"]["S"]) if item else None

    def put(
        self,
        deployment: Deployment,
        expected_status: DeploymentStatus | None = None,
        expected_step: int | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": {
                **record_key(deployment.deployment_id),
                "item_type": {"S": "deployment"},
                "deployment_id": {"S": deployment.deployment_id},
                "alias": {"S": deployment.alias},
                "status": {"S": str(deployment.status)},
                "step": {"N": str(deployment.step)},
                "updated_at": {"S": deployment.updated_at.astimezone(UTC).isoformat()},
                "document": {"S": deployment.model_dump_json()},
            },
            "ExpressionAttributeNames": {"#status": "status"},
        }
        try:
            if expected_status is None:
                record["ConditionExpression"] = "attribute_not_exists(pk) OR #status <> :running"
                record["ExpressionAttributeValues"] = {":running": {"S": str(DeploymentStatus.IN_PROGRESS)}}
                pointer = {
                    "TableName": self.table_name,
                    "Item": {
                        **current_key(deployment.alias),
                        "item_type": {"S": "current"},
                        "deployment_id": {"S": deployment.deployment_id},
                    },
                }
                self._client.transact_write_items(TransactItems=[{"Put": record}, {"Put": pointer}])
                return
            condition = "#status = :expected"
            values: dict[str, Any] = {":expected": {"S": str(expected_status)}}
            if expected_step is not None:
                condition += " AND #step = :step"
                record["ExpressionAttributeNames"]["#step"] = "step"
                values[":step"] = {"N": str(expected_step)}
            self._client.put_item(**record, ConditionExpression=condition, ExpressionAttributeValues=values)
        except ClientError as error:
            if _code(error) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise DeploymentConflict(
                    f"deployment {deployment.deployment_id} changed meanwhile (expected "
                    f"{expected_status or 'absent or finished'}); read it again"
                ) from error
            raise


class InMemoryDeploymentStore:
    """The same conditions as the DynamoDB store, on two dicts."""

    def __init__(self) -> None:
        self.records: dict[str, Deployment] = {}
        self.pointers: dict[str, str] = {}

    def get(self, deployment_id: str) -> Deployment | None:
        return self.records.get(deployment_id)

    def current(self, alias: str) -> Deployment | None:
        identifier = self.pointers.get(alias)
        return self.records.get(identifier) if identifier else None

    def put(
        self,
        deployment: Deployment,
        expected_status: DeploymentStatus | None = None,
        expected_step: int | None = None,
    ) -> None:
        stored = self.records.get(deployment.deployment_id)
        if expected_status is None:
            if stored is not None and stored.status == DeploymentStatus.IN_PROGRESS:
                raise DeploymentConflict(f"deployment {deployment.deployment_id} is already in progress")
            self.pointers[deployment.alias] = deployment.deployment_id
        elif (
            stored is None
            or stored.status != expected_status
            or (expected_step is not None and stored.step != expected_step)
        ):
            raise DeploymentConflict(f"deployment {deployment.deployment_id} changed meanwhile")
        self.records[deployment.deployment_id] = deployment

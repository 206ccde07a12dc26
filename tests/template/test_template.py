"""Static checks of template.yaml: the SAM transform's output must keep the bundle's guarantees.

Each check is a function returning the violations it finds, so the negative tests at the end
can show that it does fail on a template that breaks the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from .conftest import REPO_ROOT, TEMPLATE_PATH, Template, failure_queues, resources_of

pytestmark = pytest.mark.template


# Actions AWS only authorises on Resource "*": they name no resource ARN to scope to.
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",  # X-Ray has no resource-level permissions
        "xray:PutTelemetryRecords",  # same
        "cloudwatch:PutMetricData",  # scoped by the cloudwatch:namespace condition, not a resource
        "scheduler:ListSchedules",  # a list call: no schedule ARN to scope it to
    }
)
# AWS managed policies SAM attaches by itself: basic logging and X-Ray tracing.
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }
)
# Prefixes of the data bucket ValidateDatasetFunction may touch, by S3 action.
VALIDATE_DATASET_S3_SCOPE: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
        frozenset({"incoming/*", "contracts/*"}),
    ),
    **dict.fromkeys(
        ["s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"],
        frozenset({"validated/*", "quarantine/*", "reports/validation/*"}),
    ),
    "s3:ListBucket": frozenset({""}),  # the bucket ARN itself
}
CHECK_DRIFT_S3_SCOPE: dict[str, frozenset[str]] = {
    "s3:GetObject": frozenset({"contracts/*", "models/*", "capture/*", "ground-truth/*", "validated/*"}),
    "s3:ListBucket": frozenset({""}),
    "s3:PutObject": frozenset({"reports/drift/*", "reports/quality/*"}),
}
DATA_BUCKET = "DataBucket"
VALIDATE_DATASET = "ValidateDatasetFunction"
CHECK_DRIFT = "CheckDriftFunction"
SUB_IN_DATA_BUCKET = re.compile(r"^\$\{DataBucket\.Arn\}/(?P<suffix>.+)$")


# ------------------------------------------------------------------ template helpers
def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_ref(value: Any, logical_id: str) -> bool:
    return value in ({"Ref": logical_id}, {"Fn::GetAtt": [logical_id, "Arn"]})


def is_true(value: Any) -> bool:
    return value is True or value == "true"


def referenced_ids(value: Any) -> Iterator[str]:
    """Logical ids a value points at through Ref, Fn::GetAtt or ${...} in Fn::Sub."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                yield (inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
            else:
                yield from referenced_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from referenced_ids(inner)


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    ]


def identity_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for role_id, role in resources_of(template, "AWS::IAM::Role").items():
        for statement in role_statements(role):
            yield role_id, statement
    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy_id, policy in resources_of(template, policy_type).items():
            for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
                yield policy_id, statement


# ------------------------------------------------------------------ checks
def bucket_violations(template: Template) -> list[str]:
    policies = resources_of(template, "AWS::S3::BucketPolicy").values()
    found = []
    for bucket_id, bucket in resources_of(template, "AWS::S3::Bucket").items():
        properties = bucket["Properties"]
        if properties.get("VersioningConfiguration", {}).get("Status") != "Enabled":
            found.append(f"{bucket_id}: versioning is not enabled")
        rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        algorithms = {rule.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules}
        if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            found.append(f"{bucket_id}: no default encryption")
        block = properties.get("PublicAccessBlockConfiguration", {})
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        if not all(is_true(block.get(flag)) for flag in flags):
            found.append(f"{bucket_id}: public access is not fully blocked")
        ownership = properties.get("OwnershipControls", {}).get("Rules", [])
        if {"ObjectOwnership": "BucketOwnerEnforced"} not in ownership:
            found.append(f"{bucket_id}: ACLs are not disabled (BucketOwnerEnforced)")
        eventbridge = properties.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
        if not is_true(eventbridge.get("EventBridgeEnabled")):
            found.append(f"{bucket_id}: EventBridge notifications are off")
        if not any(_denies_insecure_transport(policy, bucket_id) for policy in policies):
            found.append(f"{bucket_id}: no bucket policy denies non-TLS requests")
    return found


def _denies_insecure_transport(policy: dict[str, Any], bucket_id: str) -> bool:
    properties = policy["Properties"]
    if properties["Bucket"] != {"Ref": bucket_id}:
        return False
    for statement in as_list(properties["PolicyDocument"]["Statement"]):
        condition = statement.get("Condition", {}).get("Bool", {})
        covered = set(referenced_ids(statement.get("Resource"))) == {bucket_id}
        objects = any("/*" in str(resource) for resource in as_list(statement.get("Resource")))
        if (
            statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and str(condition.get("aws:SecureTransport")).lower() == "false"
            and covered
            and objects
        ):
            return True
    return False


def queue_violations(template: Template) -> list[str]:
    return [
        f"{queue_id}: not encrypted"
        for queue_id, queue in resources_of(template, "AWS::SQS::Queue").items()
        if not (
            is_true(queue["Properties"].get("SqsManagedSseEnabled"))
            or "KmsMasterKeyId" in queue["Properties"]
        )
    ]


def table_violations(template: Template) -> list[str]:
    found = []
    for table_id, table in resources_of(template, "AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        pitr = properties.get("PointInTimeRecoverySpecification", {})
        if not is_true(pitr.get("PointInTimeRecoveryEnabled")):
            found.append(f"{table_id}: point-in-time recovery is off")
        if not is_true(properties.get("SSESpecification", {}).get("SSEEnabled")):
            found.append(f"{table_id}: SSESpecification is not enabled")
        ttl = properties.get("TimeToLiveSpecification", {})
        expires = is_true(ttl.get("Enabled")) and ttl.get("AttributeName")
        # A table either forgets (a TTL) or is a record that outlives the stack (Retain).
        if not expires and table.get("DeletionPolicy") != "Retain":
            found.append(f"{table_id}: no TTL attribute, and not retained when the stack goes")
    return found


def rule_target_violations(template: Template) -> list[str]:
    found = []
    for rule_id, rule in resources_of(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            if "RetryPolicy" not in target:
                found.append(f"{rule_id}/{target['Id']}: no RetryPolicy")
            if "Arn" not in target.get("DeadLetterConfig", {}):
                found.append(f"{rule_id}/{target['Id']}: no DeadLetterConfig")
    return found


def dead_letter_policy_violations(template: Template) -> list[str]:
    """EventBridge may only write to a rule's DLQ when a queue policy lets that rule do so."""
    queue_policies = resources_of(template, "AWS::SQS::QueuePolicy").values()
    found = []
    for rule_id, rule in resources_of(template, "AWS::Events::Rule").items():
        for target in rule["Properties"].get("Targets", []):
            dlq_ids = set(referenced_ids(target.get("DeadLetterConfig", {}).get("Arn")))
            if dlq_ids and not any(_lets_rule_send(policy, dlq_ids, rule_id) for policy in queue_policies):
                found.append(f"{rule_id}: no queue policy lets the rule send to {sorted(dlq_ids)}")
    return found


def _lets_rule_send(policy: dict[str, Any], queue_ids: set[str], rule_id: str) -> bool:
    if not queue_ids <= set(referenced_ids(policy["Properties"]["Queues"])):
        return False
    for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
        source_arn = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
        if (
            statement.get("Effect") == "Allow"
            and statement.get("Principal") == {"Service": "events.amazonaws.com"}
            and as_list(statement.get("Action")) == ["sqs:SendMessage"]
            and any(is_ref(arn, rule_id) for arn in as_list(source_arn))
        ):
            return True
    return False


def schedule_violations(template: Template) -> list[str]:
    """Scheduler schedules retry, and send what they could not deliver to a queue their role may write."""
    found = []
    for schedule_id, schedule in resources_of(template, "AWS::Scheduler::Schedule").items():
        target = schedule["Properties"]["Target"]
        if "RetryPolicy" not in target:
            found.append(f"{schedule_id}: no RetryPolicy")
        dlq_ids = set(referenced_ids(target.get("DeadLetterConfig", {}).get("Arn")))
        if not dlq_ids:
            found.append(f"{schedule_id}: no DeadLetterConfig")
            continue
        role_ids = set(referenced_ids(target.get("RoleArn")))
        may_send = any(
            "sqs:SendMessage" in as_list(statement.get("Action"))
            and dlq_ids <= set(referenced_ids(statement.get("Resource")))
            for role_id in role_ids
            for statement in role_statements(template["Resources"][role_id])
        )
        if not may_send:
            found.append(f"{schedule_id}: its role may not send to {sorted(dlq_ids)}")
    return found


def failure_queue_alarm_violations(template: Template) -> list[str]:
    """A message in a failure queue is work not done: an alarm tells a topic about the first one."""
    topics = set(resources_of(template, "AWS::SNS::Topic"))
    watched: set[str] = set()
    for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if (
            properties.get("Namespace") == "AWS/SQS"
            and properties.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and properties.get("ComparisonOperator") == "GreaterThanOrEqualToThreshold"
            and float(properties.get("Threshold", 0)) <= 1
            and set(referenced_ids(properties.get("AlarmActions", []))) & topics
        ):
            for dimension in properties.get("Dimensions", []):
                if dimension.get("Name") == "QueueName":
                    watched.update(referenced_ids(dimension.get("Value")))
    return [
        f"{queue_id}: no alarm on its first message"
        for queue_id in sorted(failure_queues(template) - watched)
    ]


# Lambda assumes a function's role for that function only; other services act for many
# accounts, so their trust names ours (the confused-deputy guard).
_ACCOUNT_KEYS = ("aws:SourceAccount", "aws:SourceArn", "sts:ExternalId")


def service_trust_violations(template: Template) -> list[str]:
    """Roles a service other than Lambda assumes must limit the trust to this account."""
    found = []
    for role_id, role in resources_of(template, "AWS::IAM::Role").items():
        for statement in as_list(role["Properties"]["AssumeRolePolicyDocument"]["Statement"]):
            services = as_list(statement.get("Principal", {}).get("Service"))
            if not services or services == ["lambda.amazonaws.com"]:
                continue
            keys = {key for condition in statement.get("Condition", {}).values() for key in condition}
            if not keys & set(_ACCOUNT_KEYS):
                found.append(f"{role_id}: {', '.join(services)} may assume it for any account")
    return found


def topic_and_alarm_violations(template: Template) -> list[str]:
    """Topics are encrypted with a key; every alarm tells a topic of the stack."""
    topics = resources_of(template, "AWS::SNS::Topic")
    found = [
        f"{topic_id}: not encrypted"
        for topic_id, topic in topics.items()
        if "KmsMasterKeyId" not in topic["Properties"]
    ]
    for alarm_id, alarm in resources_of(template, "AWS::CloudWatch::Alarm").items():
        actions = set(referenced_ids(alarm["Properties"].get("AlarmActions", [])))
        if not actions & set(topics):
            found.append(f"{alarm_id}: no alarm action on a topic of the stack")
    return found


def function_violations(template: Template) -> list[str]:
    invoke_configs = resources_of(template, "AWS::Lambda::EventInvokeConfig").values()
    log_groups = resources_of(template, "AWS::Logs::LogGroup")
    found = []
    for function_id, function in resources_of(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        if properties.get("Architectures") != ["arm64"] or properties.get("Runtime") != "python3.12":
            found.append(f"{function_id}: not python3.12 on arm64")
        if properties.get("TracingConfig", {}).get("Mode") != "Active":
            found.append(f"{function_id}: X-Ray tracing is not active")
        on_failure = [
            config["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            for config in invoke_configs
            if config["Properties"]["FunctionName"] == {"Ref": function_id}
        ]
        if not any(on_failure) and _invoked_asynchronously(template, function_id):
            found.append(f"{function_id}: no EventInvokeConfig with an OnFailure destination")
        log_group_id = str((properties.get("LoggingConfig", {}).get("LogGroup") or {}).get("Ref"))
        log_group = log_groups.get(log_group_id) or next(
            (group for group in log_groups.values() if _named_after(group, function_id)), None
        )
        if log_group is None or "RetentionInDays" not in log_group["Properties"]:
            found.append(f"{function_id}: no log group with a retention")
    return found


def _invoked_asynchronously(template: Template, function_id: str) -> bool:
    """Rule targets are invoked asynchronously; a function reached only by its URL is not,
    so it has no OnFailure to configure (its caller sees the error)."""
    targeted = any(
        is_ref(target.get("Arn"), function_id)
        for rule in resources_of(template, "AWS::Events::Rule").values()
        for target in rule["Properties"].get("Targets", [])
    )
    aliases = [
        alias_id
        for alias_id, alias in resources_of(template, "AWS::Lambda::Alias").items()
        if is_ref(alias["Properties"].get("FunctionName"), function_id)
    ]
    has_url = any(
        any(is_ref(url["Properties"].get("TargetFunctionArn"), target) for target in [function_id, *aliases])
        for url in resources_of(template, "AWS::Lambda::Url").values()
    )
    return targeted or not has_url


def _named_after(log_group: dict[str, Any], function_id: str) -> bool:
    name: Any = log_group["Properties"].get("LogGroupName")
    return bool(name == {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"})


def iam_wildcard_violations(template: Template) -> list[str]:
    found = []
    for owner_id, statement in identity_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{owner_id}: Allow with NotAction/NotResource")
        actions = [str(action) for action in as_list(statement.get("Action", []))]
        found.extend(f"{owner_id}: wildcard action {action!r}" for action in actions if "*" in action)
        star_resource = "*" in as_list(statement.get("Resource", []))
        if star_resource and not set(actions) <= STAR_RESOURCE_ACTIONS:
            found.append(f"{owner_id}: Resource '*' for {sorted(set(actions) - STAR_RESOURCE_ACTIONS)}")
    for role_id, role in resources_of(template, "AWS::IAM::Role").items():
        extra = set(role["Properties"].get("ManagedPolicyArns", [])) - ALLOWED_MANAGED_POLICIES
        found.extend(f"{role_id}: unexpected managed policy {arn}" for arn in sorted(extra, key=str))
    return found


def s3_scope_violations(template: Template, role_id: str, scope: dict[str, frozenset[str]]) -> list[str]:
    found = []
    for statement in role_statements(template["Resources"][role_id]):
        s3_actions = [action for action in as_list(statement["Action"]) if str(action).startswith("s3:")]
        for resource in as_list(statement.get("Resource", [])) if s3_actions else []:
            suffix = _data_bucket_suffix(resource)
            for action in s3_actions:
                if suffix is None or suffix not in scope.get(action, frozenset()):
                    found.append(f"{role_id}: {action} on {resource} is outside its allowed prefixes")
    return found


def _data_bucket_suffix(resource: Any) -> str | None:
    """'' for the bucket ARN, 'incoming/*' for ${DataBucket.Arn}/incoming/*, None otherwise."""
    if is_ref(resource, DATA_BUCKET) and "Fn::GetAtt" in resource:
        return ""
    match = SUB_IN_DATA_BUCKET.match(resource.get("Fn::Sub", "")) if isinstance(resource, dict) else None
    return match["suffix"] if match else None


OUTPUT_TYPES = (
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Serverless::Function",
    "AWS::Serverless::LayerVersion",
)


def output_violations(source: Template) -> list[str]:
    outputs = source.get("Outputs", {}).values()
    referenced = {logical_id for output in outputs for logical_id in referenced_ids(output["Value"])}
    arns = {output["Value"]["Fn::GetAtt"][0] for output in outputs if "Fn::GetAtt" in output.get("Value", {})}
    found = []
    for resource_type in OUTPUT_TYPES:
        for logical_id in resources_of(source, resource_type):
            if logical_id not in referenced:
                found.append(f"{logical_id}: no Output")
            elif resource_type == "AWS::Serverless::Function" and logical_id not in arns:
                found.append(f"{logical_id}: no Output for its ARN")
    return found


# ------------------------------------------------------------------ the guarantees
def test_every_bucket_is_versioned_encrypted_private_tls_only_and_on_eventbridge(
    cloudformation: Template,
) -> None:
    assert resources_of(cloudformation, "AWS::S3::Bucket")
    assert bucket_violations(cloudformation) == []


def test_every_queue_is_encrypted(cloudformation: Template) -> None:
    assert resources_of(cloudformation, "AWS::SQS::Queue")
    assert queue_violations(cloudformation) == []


def test_every_table_has_pitr_sse_and_a_ttl_or_a_retain_policy(cloudformation: Template) -> None:
    assert table_violations(cloudformation) == []


def test_every_rule_target_has_retries_and_a_dead_letter_queue(cloudformation: Template) -> None:
    assert resources_of(cloudformation, "AWS::Events::Rule")
    assert rule_target_violations(cloudformation) == []


def test_every_dead_letter_queue_accepts_messages_from_its_rule_only(cloudformation: Template) -> None:
    assert dead_letter_policy_violations(cloudformation) == []


def test_every_function_has_failure_destination_log_retention_arm64_and_tracing(
    cloudformation: Template,
) -> None:
    assert resources_of(cloudformation, "AWS::Lambda::Function")
    assert function_violations(cloudformation) == []


def test_no_identity_policy_grants_wildcard_actions_or_resources(cloudformation: Template) -> None:
    assert iam_wildcard_violations(cloudformation) == []


def test_validate_dataset_reads_and_writes_only_its_prefixes(cloudformation: Template) -> None:
    assert s3_scope_violations(cloudformation, f"{VALIDATE_DATASET}Role", VALIDATE_DATASET_S3_SCOPE) == []


def test_every_schedule_retries_and_has_a_dead_letter_queue_its_role_can_write(
    cloudformation: Template,
) -> None:
    assert resources_of(cloudformation, "AWS::Scheduler::Schedule")
    assert schedule_violations(cloudformation) == []


def test_a_schedule_without_a_dead_letter_queue_is_reported(
    mutated_cloudformation: Callable[[Callable[[Template], None]], Template],
) -> None:
    def drop_dlq(source: Template) -> None:
        del source["Resources"][CHECK_DRIFT]["Properties"]["Events"]["Scheduled"]["Properties"][
            "DeadLetterConfig"
        ]

    assert schedule_violations(mutated_cloudformation(drop_dlq)) == [
        "CheckDriftFunctionScheduled: no DeadLetterConfig"
    ]


def test_every_topic_is_encrypted_and_every_alarm_notifies_a_topic(cloudformation: Template) -> None:
    assert resources_of(cloudformation, "AWS::CloudWatch::Alarm")
    assert topic_and_alarm_violations(cloudformation) == []


def test_every_role_a_service_assumes_is_limited_to_this_account(cloudformation: Template) -> None:
    assert service_trust_violations(cloudformation) == []


def test_every_failure_queue_raises_an_alarm_on_its_first_message(cloudformation: Template) -> None:
    assert len(failure_queues(cloudformation)) == 10
    assert failure_queue_alarm_violations(cloudformation) == []


def test_check_drift_reads_and_writes_only_its_prefixes(cloudformation: Template) -> None:
    assert s3_scope_violations(cloudformation, f"{CHECK_DRIFT}Role", CHECK_DRIFT_S3_SCOPE) == []


def test_check_drift_runs_on_the_stacks_schedule_naming_its_run(cloudformation: Template) -> None:
    schedules = [
        schedule["Properties"]
        for schedule in resources_of(cloudformation, "AWS::Scheduler::Schedule").values()
        if is_ref(schedule["Properties"]["Target"]["Arn"], CHECK_DRIFT)
    ]
    assert len(schedules) == 1
    assert schedules[0]["ScheduleExpression"] == {"Ref": "DriftCheckSchedule"}
    assert json.loads(schedules[0]["Target"]["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}


def test_validate_dataset_rule_matches_non_empty_uploads_under_incoming(cloudformation: Template) -> None:
    # Given the rule SAM made from the function's ObjectCreated event
    rules = [
        rule
        for rule in resources_of(cloudformation, "AWS::Events::Rule").values()
        if any(is_ref(target["Arn"], VALIDATE_DATASET) for target in rule["Properties"]["Targets"])
    ]
    # Then it is on the default bus and matches only non-empty objects of our bucket under incoming/
    assert len(rules) == 1
    properties = rules[0]["Properties"]
    assert properties.get("EventBusName") in (None, "default")
    assert properties["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": DATA_BUCKET}]},
            "object": {"key": [{"prefix": "incoming/"}], "size": [{"numeric": [">", 0]}]},
        },
    }


def test_validate_dataset_environment_names_its_resources(cloudformation: Template) -> None:
    variables = cloudformation["Resources"][VALIDATE_DATASET]["Properties"]["Environment"]["Variables"]
    assert variables["DATA_BUCKET"] == {"Ref": DATA_BUCKET}
    assert variables["EVENT_BUS_NAME"] == {"Ref": "EventBus"}
    assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert variables["IDEMPOTENCY_TTL_SECONDS"] == {"Ref": "IdempotencyTtlSeconds"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "validate_dataset"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "MLOpsBundle"


def test_every_resource_kind_users_need_has_an_output(source_template: Template) -> None:
    assert output_violations(source_template) == []


def test_layers_are_built_by_their_makefile_for_arm64(source_template: Template) -> None:
    layers = resources_of(source_template, "AWS::Serverless::LayerVersion")
    assert set(layers) == {
        "CoreLayer",
        "RuntimeDepsLayer",
        "ArrowDepsLayer",
        "SklearnDepsLayer",
        "NumpyDepsLayer",
    }
    for logical_id, layer in layers.items():
        assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}, logical_id
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"], logical_id
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"], logical_id
        makefile = (REPO_ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text(encoding="utf-8")
        assert re.search(rf"^build-{logical_id}:", makefile, re.MULTILINE), logical_id


@pytest.mark.parametrize("layer_dir", ["layers/runtime-deps", "layers/arrow-deps", "layers/numpy-deps"])
def test_dependency_layers_pin_every_requirement_exactly(layer_dir: str) -> None:
    lines = (REPO_ROOT / layer_dir / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert requirements
    assert [line for line in requirements if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.]+", line)] == []


def cfn_lint(text: str) -> list[str]:
    """cfn-lint's errors and warnings, with the serverless rules (cfn-lint-serverless) added."""
    config = ManualArgs(regions=["eu-west-1", "us-east-1"], append_rules=["cfn_lint_serverless.rules"])
    return [str(match) for match in lint(text, config=config) if match.rule.severity in ("error", "warning")]


def test_cfn_lint_finds_no_errors_or_warnings() -> None:
    assert cfn_lint(TEMPLATE_PATH.read_text(encoding="utf-8")) == []


def test_cfn_lint_runs_the_serverless_rules() -> None:
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    queue = text.index("\n  CheckDriftFailureQueue:\n")
    skip = "      cfn-lint:\n        config:\n          ignore_checks: [ES6000]\n"
    at = text.index(skip, queue)  # the queue's reasoned skip, taken out
    found = cfn_lint(text[:at] + text[at + len(skip) :])
    assert [m for m in found if "ES6000" in m and "CheckDriftFailureQueue" in m], found


# ------------------------------------------------------------------ each check can fail
def _function_properties(source: Template) -> dict[str, Any]:
    properties: dict[str, Any] = source["Resources"][VALIDATE_DATASET]["Properties"]
    return properties


def _add_star_resource_statement(source: Template) -> None:
    statements = _function_properties(source)["Policies"][0]["Statement"]
    statements.append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})


def _drop_rule_dead_letter_queue(source: Template) -> None:
    del _function_properties(source)["Events"]["ObjectCreated"]["Properties"]["DeadLetterConfig"]


def _widen_put_object_to_whole_bucket(source: Template) -> None:
    statement = _function_properties(source)["Policies"][0]["Statement"][1]
    statement["Resource"] = {"Fn::Sub": "${DataBucket.Arn}/*"}


def _drop_event_invoke_config(source: Template) -> None:
    del _function_properties(source)["EventInvokeConfig"]


def _drop_failure_queue_encryption(source: Template) -> None:
    del source["Resources"]["ValidateDatasetFailureQueue"]["Properties"]["SqsManagedSseEnabled"]


def _drop_tls_policy(source: Template) -> None:
    del source["Resources"]["DataBucketPolicy"]


def _drop_table_pitr(source: Template) -> None:
    del source["Resources"]["IdempotencyTable"]["Properties"]["PointInTimeRecoverySpecification"]


def _drop_scheduler_trust_condition(source: Template) -> None:
    del source["Resources"]["DriftSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Condition"
    ]


def _drop_failure_queue_alarm(source: Template) -> None:
    del source["Resources"]["ValidateDatasetFailureQueueAlarm"]


def _validate_dataset_s3_scope(template: Template) -> list[str]:
    return s3_scope_violations(template, f"{VALIDATE_DATASET}Role", VALIDATE_DATASET_S3_SCOPE)


@pytest.mark.parametrize(
    ("mutate", "check", "expected"),
    [
        (_add_star_resource_statement, iam_wildcard_violations, "Resource '*' for ['s3:GetObject']"),
        (_drop_rule_dead_letter_queue, rule_target_violations, ": no DeadLetterConfig"),
        (_widen_put_object_to_whole_bucket, _validate_dataset_s3_scope, "s3:PutObject on"),
        (_drop_event_invoke_config, function_violations, "no EventInvokeConfig with an OnFailure"),
        (_drop_failure_queue_encryption, queue_violations, "ValidateDatasetFailureQueue: not encrypted"),
        (_drop_tls_policy, bucket_violations, "DataBucket: no bucket policy denies non-TLS requests"),
        (_drop_table_pitr, table_violations, "IdempotencyTable: point-in-time recovery is off"),
        (
            _drop_failure_queue_alarm,
            failure_queue_alarm_violations,
            "ValidateDatasetFailureQueue: no alarm on its first message",
        ),
        (
            _drop_scheduler_trust_condition,
            service_trust_violations,
            "DriftSchedulerRole: scheduler.amazonaws.com may assume it for any account",
        ),
    ],
    ids=[
        "star-resource",
        "no-dlq",
        "wide-put",
        "no-invoke-config",
        "plain-queue",
        "no-tls",
        "no-pitr",
        "unwatched-queue",
        "open-trust",
    ],
)
def test_check_reports_a_template_that_breaks_its_rule(
    mutated_cloudformation: Callable[[Callable[[Template], None]], Template],
    mutate: Callable[[Template], None],
    check: Callable[[Template], list[str]],
    expected: str,
) -> None:
    # Given the template with one guarantee removed
    broken = mutated_cloudformation(mutate)
    # When the check runs on its transform
    violations = check(broken)
    # Then it names the broken guarantee
    assert any(expected in violation for violation in violations), violations


def test_output_check_reports_a_resource_without_output(source_template: Template) -> None:
    # Given the source without the failure queue's outputs
    outputs = {
        name: output
        for name, output in source_template["Outputs"].items()
        if "ValidateDatasetFailureQueue" not in name
    }
    # Then the check names the queue
    assert output_violations({**source_template, "Outputs": outputs}) == [
        "ValidateDatasetFailureQueue: no Output"
    ]


def test_the_dashboard_is_json_and_shows_only_metrics_the_functions_emit(source_template: Template) -> None:
    body = source_template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([A-Za-z0-9:.]+)\}", body))
    for name in names:
        logical_id = name.split(".")[0]
        assert name.startswith("AWS::") or logical_id in source_template["Resources"], name
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    ours: set[str] = set()
    for widget in dashboard["widgets"]:
        namespace = None
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):
                ours |= set(re.findall(r'MetricName="(\w+)"', row[0]["expression"]))
                continue
            namespace = namespace if row[0] == "." else row[0]
            if namespace == "MLOpsBundle" and row[1] != ".":
                ours.add(row[1])
    assert {"DriftShare", "FeatureDriftStatistic", "DatasetsValidated", "ModelsDrifting"} <= ours
    emitted = "".join(path.read_text() for path in (REPO_ROOT / "functions").glob("*/app.py"))
    assert [name for name in sorted(ours) if f'"{name}"' not in emitted] == []

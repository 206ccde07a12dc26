"""Deploy template.yaml into moto and read back what every function needs to run here.

The template is transformed offline (:mod:`sam_template`) and created with moto's
CloudFormation, so buckets, tables, queues, buses and rules exist exactly as the template
says. What moto's CloudFormation leaves out or gets wrong is resolved here from the
transformed template itself: Refs to event buses and layer versions (moto returns its
internal objects), EventInvokeConfig, and EventBridge Scheduler schedules (neither
supported by moto's CloudFormation).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.local.sam_template import (
    ARTIFACT_BUCKET,
    ARTIFACT_KEY,
    Template,
    load_source_template,
    local_artifacts,
    transform_template,
)

ACCOUNT_ID = "123456789012"
#: Function URLs in the local cloud: `mlops local up` serves them under this path.
LOCAL_FUNCTION_URL_PREFIX = "http://localhost/function-url/"
#: Resource types moto's CloudFormation cannot create: the local cloud creates them itself.
CREATED_HERE = frozenset(
    {"AWS::KinesisFirehose::DeliveryStream", "AWS::Lambda::Alias", "AWS::Scheduler::Schedule"}
)
#: Resource types moto's CloudFormation skips; an output naming one would fail the stack.
NOT_IN_MOTO = frozenset({"AWS::Lambda::Url", "AWS::Lambda::Alias"})
DEFAULT_ASYNC_RETRIES = 2


class StackError(RuntimeError):
    """The template could not be deployed into the local cloud."""


@dataclass(frozen=True)
class AsyncConfig:
    """A function's EventInvokeConfig: retries of a failed async invocation, then OnFailure."""

    maximum_retry_attempts: int = DEFAULT_ASYNC_RETRIES
    maximum_event_age_seconds: int = 21_600
    on_failure_arn: str | None = None


@dataclass(frozen=True)
class LocalFunction:
    """Everything needed to run one function of the stack in this process."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    async_config: AsyncConfig = field(default_factory=AsyncConfig)


@dataclass
class DeployedStack:
    name: str
    region: str
    template: Template
    physical_ids: dict[str, str]
    outputs: dict[str, str]
    functions: dict[str, LocalFunction]

    def function(self, name_or_logical_id: str) -> LocalFunction:
        for function in self.functions.values():
            if name_or_logical_id in (function.logical_id, function.name, function.arn):
                return function
        known = sorted(f.logical_id for f in self.functions.values())
        raise LookupError(f"no function {name_or_logical_id!r} in stack {self.name}; known: {known}")

    def function_by_arn(self, arn: str) -> LocalFunction | None:
        for function in self.functions.values():
            if arn in (function.arn, f"{function.arn}:$LATEST"):
                return function
        return None


def deploy(
    session: Any,
    template_path: Path,
    *,
    stack_name: str = "mlops-local",
    parameters: dict[str, str] | None = None,
) -> DeployedStack:
    """Create the stack in moto through ``session`` (a boto3 Session pointed at moto)."""
    source = load_source_template(template_path)
    folders = local_artifacts(source, template_path.parent)
    region = session.region_name
    template = transform_template(source, region=region)
    _upload_placeholder_artifact(session, region)
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(_prepared_for_moto(template, stack_name, region, parameters or {})),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if status["StackStatus"] != "CREATE_COMPLETE":
        raise StackError(f"stack {stack_name}: {status['StackStatus']} {status.get('StackStatusReason', '')}")
    resolver = _Resolver(session, stack_name, region, template, parameters or {})
    _apply_what_moto_skips(session, resolver)
    _create_what_moto_cannot(session, resolver)
    outputs = {
        key: str(resolver.resolve(output["Value"])) for key, output in template.get("Outputs", {}).items()
    }
    functions = {
        logical_id: _local_function(resolver, logical_id, resource, template, folders)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    return DeployedStack(stack_name, region, template, resolver.physical_ids, outputs, functions)


def _prepared_for_moto(
    template: Template, stack_name: str, region: str, parameters: dict[str, str]
) -> Template:
    """The template as moto can create it.

    - moto resolves a Ref to an event bus to its internal object, which breaks any rule that
      names the bus: such Refs are written out as the bus name.
    - moto's CloudFormation has no Firehose delivery streams: they are left out, every Ref
      and GetAtt to them written out as the name and ARN they will have, and
      :func:`_create_what_moto_cannot` creates them through the Firehose API afterwards.
    - Outputs that name a type moto does not model (a function URL) are left out: moto fails
      on them. moto answers describe_stacks with the rest; :class:`_Resolver` resolves all.
    """
    pre = _Resolver.before_deployment(stack_name, region, template, parameters)
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::EventBus":
            refs[logical_id] = str(pre.resolve(resource["Properties"]["Name"]))
        elif resource["Type"] == "AWS::KinesisFirehose::DeliveryStream":
            name = _stream_name(stack_name, logical_id)
            refs[logical_id] = name
            attributes[(logical_id, "Arn")] = f"arn:aws:firehose:{region}:{ACCOUNT_ID}:deliverystream/{name}"

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in refs:
                return refs[value["Ref"]]
            if set(value) == {"Fn::GetAtt"} and tuple(value["Fn::GetAtt"]) in attributes:
                return attributes[tuple(value["Fn::GetAtt"])]
            return {key: rewrite(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    rewritten: Template = rewrite(template)
    rewritten["Resources"] = {
        logical_id: resource
        for logical_id, resource in rewritten["Resources"].items()
        if resource["Type"] not in CREATED_HERE
    }
    unmodelled = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in NOT_IN_MOTO
    }
    rewritten["Outputs"] = {
        key: output
        for key, output in rewritten.get("Outputs", {}).items()
        if not unmodelled & set(_referenced(output["Value"]))
    }
    return rewritten


def url_target(template: Template, url_id: str) -> tuple[str, str | None]:
    """The logical id of the function a function URL serves, and the alias it is on (if any)."""
    target = template["Resources"][url_id]["Properties"]["TargetFunctionArn"]
    target_id = str(target["Ref"] if "Ref" in target else target["Fn::GetAtt"][0])
    resource = template["Resources"][target_id]
    if resource["Type"] == "AWS::Lambda::Alias":
        named = resource["Properties"]["FunctionName"]
        return str(named["Ref"] if isinstance(named, dict) else named), str(resource["Properties"]["Name"])
    return target_id, None


def _referenced(value: Any) -> list[str]:
    """Logical ids a Ref or Fn::GetAtt inside ``value`` points at."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return [str(value["Ref"])]
        if set(value) == {"Fn::GetAtt"}:
            return [str(value["Fn::GetAtt"][0])]
        return [found for item in value.values() for found in _referenced(item)]
    if isinstance(value, list):
        return [found for item in value for found in _referenced(item)]
    return []


def _stream_name(stack_name: str, logical_id: str) -> str:
    return f"{stack_name}-{logical_id}"[:64]


def _create_what_moto_cannot(session: Any, resolver: _Resolver) -> None:
    firehose, lambdas = session.client("firehose"), session.client("lambda")
    scheduler = session.client("scheduler")
    for logical_id, resource in resolver.template["Resources"].items():
        if resource["Type"] == "AWS::Scheduler::Schedule":
            properties = resolver.resolve(resource["Properties"])
            scheduler.create_schedule(**{"Name": logical_id, **properties})
            continue
        if resource["Type"] == "AWS::Lambda::Alias":
            properties = resolver.resolve(resource["Properties"])
            lambdas.create_alias(
                FunctionName=properties["FunctionName"],
                Name=properties["Name"],
                FunctionVersion=str(properties["FunctionVersion"]),
            )
            continue
        if resource["Type"] != "AWS::KinesisFirehose::DeliveryStream":
            continue
        properties = resolver.resolve(resource["Properties"])
        destination = properties["ExtendedS3DestinationConfiguration"]
        destination.pop("CloudWatchLoggingOptions", None)
        firehose.create_delivery_stream(
            DeliveryStreamName=resolver.physical_ids[logical_id],
            DeliveryStreamType=properties.get("DeliveryStreamType", "DirectPut"),
            ExtendedS3DestinationConfiguration=destination,
        )


def _upload_placeholder_artifact(session: Any, region: str) -> None:
    # moto's Lambda wants the code archive to exist; the local cloud runs the folders instead.
    s3 = session.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("README", "the local cloud runs functions from their folders")
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=archive.getvalue())


def _apply_what_moto_skips(session: Any, resolver: _Resolver) -> None:
    """Settings moto's CloudFormation ignores, applied through the service APIs moto does have."""
    s3, sqs = session.client("s3"), session.client("sqs")
    for logical_id, resource in resolver.template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            versioning = properties.get("VersioningConfiguration", {}).get("Status")
            if versioning:
                s3.put_bucket_versioning(
                    Bucket=resolver.physical_ids[logical_id], VersioningConfiguration={"Status": versioning}
                )
            notifications = properties.get("NotificationConfiguration", {})
            if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=resolver.physical_ids[logical_id],
                    NotificationConfiguration={"EventBridgeConfiguration": {}},
                )
        # AWS::S3::BucketPolicy is left out on purpose: moto evaluates aws:SecureTransport and
        # s3:TlsVersion as if every local request broke them, and would deny them all.
        elif kind == "AWS::SQS::QueuePolicy":
            policy = json.dumps(resolver.resolve(properties["PolicyDocument"]))
            for queue in properties["Queues"]:
                sqs.set_queue_attributes(QueueUrl=resolver.resolve(queue), Attributes={"Policy": policy})


def _local_function(
    resolver: _Resolver,
    logical_id: str,
    resource: dict[str, Any],
    template: Template,
    folders: dict[str, Path],
) -> LocalFunction:
    properties = resource["Properties"]
    source_id = logical_id  # SAM keeps the function's logical id
    layer_dirs = []
    for layer in properties.get("Layers", []):
        layer_id = layer.get("Ref") if isinstance(layer, dict) else None
        source_layer = _source_layer_id(layer_id, folders) if layer_id else None
        if source_layer is not None:
            layer_dirs.append(folders[source_layer] / "python")
    environment = {
        name: str(resolver.resolve(value))
        for name, value in properties.get("Environment", {}).get("Variables", {}).items()
    }
    name = resolver.physical_ids[logical_id]
    return LocalFunction(
        logical_id=logical_id,
        name=name,
        arn=f"arn:aws:lambda:{resolver.region}:{ACCOUNT_ID}:function:{name}",
        code_dir=folders[source_id],
        handler=str(properties["Handler"]),
        layer_dirs=tuple(layer_dirs),
        environment=environment,
        timeout_seconds=int(properties.get("Timeout", 3)),
        memory_mb=int(properties.get("MemorySize", 128)),
        async_config=_async_config(resolver, logical_id, template),
    )


def _source_layer_id(transformed_id: str, folders: dict[str, Path]) -> str | None:
    # SAM renames layers with a content hash suffix: CoreLayer -> CoreLayer2938211d67.
    for source_id in folders:
        if transformed_id == source_id or re.fullmatch(
            rf"{re.escape(source_id)}[0-9a-f]{{10}}", transformed_id
        ):
            return source_id
    return None


def _async_config(resolver: _Resolver, logical_id: str, template: Template) -> AsyncConfig:
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::EventInvokeConfig":
            continue
        properties = resource["Properties"]
        if properties.get("FunctionName", {}).get("Ref") != logical_id:
            continue
        on_failure = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return AsyncConfig(
            maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)),
            maximum_event_age_seconds=int(properties.get("MaximumEventAgeInSeconds", 21_600)),
            on_failure_arn=str(resolver.resolve(on_failure)) if on_failure is not None else None,
        )
    return AsyncConfig()


class _Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join and Fn::Select against the deployed stack."""

    def __init__(
        self,
        session: Any,
        stack_name: str,
        region: str,
        template: Template,
        parameters: dict[str, str],
        *,
        deployed: bool = True,
    ) -> None:
        self.session = session
        self.region = region
        self.template = template
        self.parameters = {
            name: parameters.get(name, str(spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.physical_ids: dict[str, str] = self._physical_ids(stack_name) if deployed else {}

    @classmethod
    def before_deployment(
        cls, stack_name: str, region: str, template: Template, parameters: dict[str, str]
    ) -> _Resolver:
        """Resolves parameters and pseudo parameters only: no resource exists yet."""
        return cls(None, stack_name, region, template, parameters, deployed=False)

    def _physical_ids(self, stack_name: str) -> dict[str, str]:
        listed = self.session.client("cloudformation").describe_stack_resources(StackName=stack_name)
        ids: dict[str, str] = {}
        for entry in listed["StackResources"]:
            logical_id, physical = entry.get("LogicalResourceId"), entry.get("PhysicalResourceId")
            if isinstance(logical_id, str) and isinstance(physical, str) and "<moto." not in physical:
                ids[logical_id] = physical
        for logical_id, resource in self.template["Resources"].items():
            if logical_id in ids:
                continue
            kind = resource["Type"]
            if kind == "AWS::Events::EventBus":
                ids[logical_id] = str(self.resolve(resource["Properties"]["Name"]))
            elif kind == "AWS::Lambda::LayerVersion":
                ids[logical_id] = self._layer_arn(str(self.resolve(resource["Properties"]["LayerName"])))
            elif kind == "AWS::KinesisFirehose::DeliveryStream":
                ids[logical_id] = _stream_name(stack_name, logical_id)
            elif kind == "AWS::Scheduler::Schedule":
                ids[logical_id] = str(self.resolve(resource["Properties"].get("Name", logical_id)))
        # Versions and aliases name their function, so they come once the functions are known.
        for logical_id, resource in self.template["Resources"].items():
            if logical_id in ids or resource["Type"] not in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
                continue
            named = resource["Properties"]["FunctionName"]
            function = ids[named["Ref"]] if isinstance(named, dict) and "Ref" in named else str(named)
            arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{function}"
            if resource["Type"] == "AWS::Lambda::Alias":
                ids[logical_id] = f"{arn}:{resource['Properties']['Name']}"
            else:
                versions = self.session.client("lambda").list_versions_by_function(FunctionName=function)
                numbered = [v["Version"] for v in versions["Versions"] if v["Version"] != "$LATEST"]
                ids[logical_id] = f"{arn}:{numbered[-1] if numbered else '1'}"
        return ids

    def _layer_arn(self, layer_name: str) -> str:
        versions = self.session.client("lambda").list_layer_versions(LayerName=layer_name)["LayerVersions"]
        return str(versions[0]["LayerVersionArn"]) if versions else layer_name

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(str(argument))
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self._get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(self.resolve(item)) for item in items)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise StackError(f"cannot resolve Ref {name}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved_vars = {key: str(self.resolve(item)) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved_vars:
                return resolved_vars[name]
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return self._ref(name)

        return re.sub(r"\$\{([^!}][^}]*)\}", replace, str(text))

    def _get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        kind, physical = resource["Type"], self.physical_ids.get(logical_id, "")
        region, account = self.region, ACCOUNT_ID
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account}:table/{physical}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{physical}",
            "AWS::Events::EventBus": f"arn:aws:events:{region}:{account}:event-bus/{physical}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{physical}",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{physical}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{physical}:*",
        }
        if kind == "AWS::SQS::Queue":
            queue = physical.rsplit("/", 1)[-1]
            values = {
                "Arn": f"arn:aws:sqs:{region}:{account}:{queue}",
                "QueueName": queue,
                "QueueUrl": physical,
            }
            return values[attribute]
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if attribute == "Name" and kind == "AWS::Events::EventBus":
            return physical
        if kind == "AWS::Lambda::Version" and attribute == "Version":
            return physical.rsplit(":", 1)[-1]
        if kind == "AWS::KinesisFirehose::DeliveryStream" and attribute == "Arn":
            return f"arn:aws:firehose:{region}:{account}:deliverystream/{physical}"
        if kind == "AWS::Lambda::Url" and attribute == "FunctionUrl":
            # The local cloud serves function URLs itself (mlops local up); this names the target.
            function_id, _alias = url_target(self.template, logical_id)
            return f"{LOCAL_FUNCTION_URL_PREFIX}{self.physical_ids.get(function_id, function_id)}/"
        raise StackError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})")

"""template.yaml as SAM source, and as the CloudFormation `sam deploy` would submit, offline.

The SAM translator runs here without AWS: a stub answers its managed-policy lookups and
local CodeUri/ContentUri folders are swapped for an S3 placeholder, as `sam package`
would. The folders themselves are kept, so the local cloud can run the code they hold.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from mlops_cli.local.environment import environment

ARTIFACT_BUCKET = "placeholder-artifacts"
ARTIFACT_KEY = "code.zip"
ARTIFACT_PLACEHOLDER = f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEY}"
OFFLINE_REGION = "eu-west-1"

Template = dict[str, Any]


class OfflineManagedPolicyLoader(ManagedPolicyLoader):  # type: ignore[misc]  # samtranslator is untyped
    """Answers SAM's managed-policy lookups without IAM: the template names none by short name."""

    def __init__(self) -> None:
        self._policy_map: dict[str, str] | None = {}

    def load(self) -> dict[str, str]:
        return {}


def load_source_template(path: Path) -> Template:
    """The SAM source as plain dicts, short-form tags (!Ref, !Sub) in their long form."""
    document = cfn_yaml.loads(path.read_text(encoding="utf-8"), str(path))
    plain: Template = json.loads(json.dumps(document))
    return plain


def local_artifacts(template: Template, base: Path) -> dict[str, Path]:
    """Logical id -> local folder of every function's CodeUri and layer's ContentUri."""
    folders: dict[str, Path] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                folders[logical_id] = (base / value).resolve()
    return folders


def transform_template(template: Template, region: str = OFFLINE_REGION) -> Template:
    """CloudFormation as `sam deploy` would submit it, computed offline."""
    prepared = copy.deepcopy(template)
    for resource in prepared.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = ARTIFACT_PLACEHOLDER
    with environment({"AWS_DEFAULT_REGION": region}):
        transformed: Template = transform(prepared, {}, OfflineManagedPolicyLoader())
    return transformed

"""Publishing a data contract: checked here first, then put where the bundle reads it.

``mlops contract FILE --push BUCKET`` is how a contract reaches a deployment, real or local:
a broken contract is refused on the laptop with its field errors, never uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_core.contracts import DataContract, load_contract
from mlops_core.contracts import contract_key as dataset_contract_key


def contract_key(contract: DataContract) -> str:
    return dataset_contract_key(contract.dataset)


def push_contract(s3: Any, bucket: str, path: Path) -> str:
    """Validate the contract at ``path`` and upload it; returns its s3:// URI."""
    text = path.read_text(encoding="utf-8")
    contract = load_contract(text, source=str(path))
    key = contract_key(contract)
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/yaml")
    return f"s3://{bucket}/{key}"

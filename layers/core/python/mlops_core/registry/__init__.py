"""The model registry: versions, approvals, aliases and history of trained models.

``ModelRegistry`` is the interface; ``DynamoDBModelRegistry`` is the deployed backend and
``InMemoryModelRegistry`` the fake with the same semantics. See docs/registry.md.
"""

from mlops_core.registry.dynamodb import DynamoDBModelRegistry
from mlops_core.registry.entities import (
    AliasPointer,
    HistoryAction,
    HistoryEntry,
    Lineage,
    ModelStatus,
    ModelVersion,
)
from mlops_core.registry.memory import InMemoryModelRegistry
from mlops_core.registry.store import (
    ALLOWED_TRANSITIONS,
    DEFAULT_ALIAS,
    InvalidName,
    InvalidRegistration,
    InvalidTransition,
    ModelRegistry,
    NothingToRollBack,
    RegistryBusy,
    RegistryError,
    VersionNotFound,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_ALIAS",
    "AliasPointer",
    "DynamoDBModelRegistry",
    "HistoryAction",
    "HistoryEntry",
    "InMemoryModelRegistry",
    "InvalidName",
    "InvalidRegistration",
    "InvalidTransition",
    "Lineage",
    "ModelRegistry",
    "ModelStatus",
    "ModelVersion",
    "NothingToRollBack",
    "RegistryBusy",
    "RegistryError",
    "VersionNotFound",
]

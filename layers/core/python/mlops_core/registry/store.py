"""The model registry's interface, its typed errors, and the rules every backend shares.

Callers talk to :class:`ModelRegistry`; :class:`~mlops_core.registry.dynamodb.DynamoDBModelRegistry`
and :class:`~mlops_core.registry.memory.InMemoryModelRegistry` implement it. The rules that
decide (which status changes are legal, what may be promoted, how a registration is
validated) live here once, so both backends refuse the same things with the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from mlops_core.registry.entities import (
    ALIAS_PATTERN,
    MODEL_NAME_PATTERN,
    AliasPointer,
    HistoryAction,
    HistoryEntry,
    Lineage,
    ModelStatus,
    ModelVersion,
)

DEFAULT_ALIAS = "production"

#: status -> statuses it may move to. Approved -> Rejected is a revocation; a rejected
#: version stays rejected (register a new artifact instead).
ALLOWED_TRANSITIONS: Mapping[ModelStatus, frozenset[ModelStatus]] = {
    ModelStatus.PENDING_MANUAL_APPROVAL: frozenset({ModelStatus.APPROVED, ModelStatus.REJECTED}),
    ModelStatus.APPROVED: frozenset({ModelStatus.REJECTED}),
    ModelStatus.REJECTED: frozenset(),
}


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""


class InvalidName(RegistryError, ValueError):
    """A model or alias name the registry cannot store."""


class InvalidRegistration(RegistryError, ValueError):
    """A registration whose fields do not validate (bad sha256, metric not finite, …)."""


class VersionNotFound(RegistryError, LookupError):
    def __init__(self, model: str, version: int) -> None:
        super().__init__(
            f"model {model!r} has no version {version}: list the registered ones with "
            f"list_versions({model!r}), or register the artifact first"
        )
        self.model = model
        self.version = version


class InvalidTransition(RegistryError):
    """A status change or promotion the rules refuse; names both states and what to do."""

    def __init__(
        self,
        model: str,
        version: int,
        current: ModelStatus,
        requested: ModelStatus,
        fix: str,
        *,
        what: str | None = None,
    ) -> None:
        what = what or f"move from {current} to {requested}"
        super().__init__(f"model {model!r} version {version}: cannot {what}; {fix}")
        self.model = model
        self.version = version
        self.current = current
        self.requested = requested


class NothingToRollBack(RegistryError):
    def __init__(self, model: str, alias: str, current: int | None) -> None:
        where = (
            f"alias {alias!r} of model {model!r} is not set"
            if current is None
            else f"alias {alias!r} of model {model!r} points at version {current} with no previous one"
        )
        super().__init__(f"{where}: nothing to roll back to; promote an approved version explicitly instead")
        self.model = model
        self.alias = alias


class RegistryBusy(RegistryError):
    """Concurrent writers kept winning; the write was not made and may be retried as is."""

    def __init__(self, model: str, operation: str, attempts: int) -> None:
        super().__init__(
            f"model {model!r}: {operation} lost to concurrent writes {attempts} times in a row and was "
            "not applied; retry it (it is safe to repeat)"
        )
        self.model = model
        self.operation = operation


class ModelRegistry(Protocol):
    def register(
        self,
        model: str,
        *,
        artifact_uri: str,
        artifact_sha256: str,
        manifest_uri: str,
        baseline_uri: str | None = None,
        metrics: Mapping[str, float],
        primary_metric: str,
        lineage: Lineage,
        actor: str,
    ) -> ModelVersion:
        """Allocate the next version atomically; the same (model, artifact_sha256) returns the
        version already registered for it, unchanged."""
        ...

    def get(self, model: str, version: int) -> ModelVersion: ...

    def latest(self, model: str) -> ModelVersion | None: ...

    def list_versions(self, model: str) -> list[ModelVersion]: ...

    def list_models(self) -> list[str]: ...

    def approve(self, model: str, version: int, *, actor: str, reason: str | None = None) -> ModelVersion: ...

    def reject(self, model: str, version: int, *, actor: str, reason: str) -> ModelVersion: ...

    def alias(self, model: str, alias: str) -> AliasPointer | None: ...

    def promote(
        self,
        model: str,
        version: int,
        *,
        alias: str = DEFAULT_ALIAS,
        actor: str,
        reason: str | None = None,
    ) -> AliasPointer: ...

    def rollback(
        self, model: str, *, alias: str = DEFAULT_ALIAS, actor: str, reason: str
    ) -> AliasPointer: ...

    def history(self, model: str) -> list[HistoryEntry]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_model_name(model: str) -> str:
    if not re.fullmatch(MODEL_NAME_PATTERN, model):
        raise InvalidName(
            f"model name {model!r} must match {MODEL_NAME_PATTERN}: lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit, at most 63 characters"
        )
    return model


def check_alias_name(alias: str) -> str:
    if not re.fullmatch(ALIAS_PATTERN, alias):
        raise InvalidName(
            f"alias {alias!r} must match {ALIAS_PATTERN}: lowercase letters, digits, '-' or '_', "
            "starting with a letter (e.g. 'production', 'staging')"
        )
    return alias


def check_actor(actor: str) -> str:
    if not actor.strip():
        raise InvalidName("actor must name who acts (a user, a role or a pipeline run); it is empty")
    return actor


def check_reason(reason: str, action: str) -> str:
    if not reason.strip():
        raise InvalidName(f"a {action} needs a reason for the history; it is empty")
    return reason


def new_version(
    model: str,
    version: int,
    *,
    artifact_uri: str,
    artifact_sha256: str,
    manifest_uri: str,
    baseline_uri: str | None,
    metrics: Mapping[str, float],
    primary_metric: str,
    lineage: Lineage,
    at: datetime,
) -> ModelVersion:
    """The version a registration creates, or :class:`InvalidRegistration` naming bad fields."""
    try:
        return ModelVersion(
            model=model,
            version=version,
            status=ModelStatus.PENDING_MANUAL_APPROVAL,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            manifest_uri=manifest_uri,
            baseline_uri=baseline_uri,
            metrics=dict(metrics),
            primary_metric=primary_metric,
            lineage=lineage,
            registered_at=at,
            updated_at=at,
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise InvalidRegistration(f"cannot register model {model!r}: {problems}") from error


def check_decision(current: ModelVersion, requested: ModelStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``current`` may move to ``requested``."""
    if requested in ALLOWED_TRANSITIONS[current.status]:
        return
    if current.status == requested:
        fix = f"it is already {requested}"
    elif current.status == ModelStatus.REJECTED:
        fix = "a rejected version stays rejected; register a new artifact and approve that"
    else:
        fix = f"allowed from {current.status}: {sorted(ALLOWED_TRANSITIONS[current.status]) or 'none'}"
    raise InvalidTransition(current.model, current.version, current.status, requested, fix)


def decided(
    current: ModelVersion, requested: ModelStatus, *, actor: str, reason: str | None, at: datetime
) -> ModelVersion:
    """``current`` after an approval or rejection (``approved_by`` is kept on a revocation)."""
    approved_by = actor if requested == ModelStatus.APPROVED else current.approved_by
    return current.model_copy(
        update={"status": requested, "approved_by": approved_by, "status_reason": reason, "updated_at": at}
    )


def check_promotable(version: ModelVersion, alias: str, *, rolling_back: bool = False) -> None:
    """Only an approved version may be what an alias points at, by promotion or by rollback."""
    if version.status == ModelStatus.APPROVED:
        return
    must = f"while it is {version.status} (it must be {ModelStatus.APPROVED})"
    if rolling_back:
        what = f"roll alias {alias!r} back to it {must}"
        fix = "promote an approved version explicitly instead"
    else:
        what = f"promote it to alias {alias!r} {must}"
        pending = version.status == ModelStatus.PENDING_MANUAL_APPROVAL
        fix = (
            "approve it first"
            if pending
            else "a rejected version cannot be deployed; promote an approved one"
        )
    raise InvalidTransition(
        version.model, version.version, version.status, ModelStatus.APPROVED, fix, what=what
    )


def decision_entry(
    version: ModelVersion, requested: ModelStatus, *, actor: str, reason: str | None, at: datetime
) -> HistoryEntry:
    action = HistoryAction.APPROVED if requested == ModelStatus.APPROVED else HistoryAction.REJECTED
    return HistoryEntry(
        model=version.model, version=version.version, action=action, actor=actor, reason=reason, at=at
    )


def registration_entry(version: ModelVersion, *, actor: str) -> HistoryEntry:
    return HistoryEntry(
        model=version.model,
        version=version.version,
        action=HistoryAction.REGISTERED,
        actor=actor,
        at=version.registered_at,
    )


def move_entry(
    pointer: AliasPointer, action: HistoryAction, *, from_version: int | None, actor: str, reason: str | None
) -> HistoryEntry:
    return HistoryEntry(
        model=pointer.model,
        version=pointer.version,
        action=action,
        actor=actor,
        reason=reason,
        alias=pointer.alias,
        from_version=from_version,
        to_version=pointer.version,
        at=pointer.updated_at,
    )

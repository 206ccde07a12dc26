"""The in-memory model registry: the fake for unit tests and the local CLI.

Same semantics as the DynamoDB registry (the shared behaviour suite runs on both): one lock
stands in for DynamoDB's conditional writes and transactions, so concurrent callers still
get distinct, gap-free versions and cannot both win a status change.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops_core.registry.entities import (
    AliasPointer,
    HistoryAction,
    HistoryEntry,
    Lineage,
    ModelStatus,
    ModelVersion,
)
from mlops_core.registry.store import (
    DEFAULT_ALIAS,
    NothingToRollBack,
    VersionNotFound,
    check_actor,
    check_alias_name,
    check_decision,
    check_model_name,
    check_promotable,
    check_reason,
    decided,
    decision_entry,
    move_entry,
    new_version,
    registration_entry,
    utc_now,
)


@dataclass
class _Model:
    versions: list[ModelVersion] = field(default_factory=list)
    by_artifact: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, AliasPointer] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)


class InMemoryModelRegistry:
    def __init__(self) -> None:
        self._models: dict[str, _Model] = {}
        self._lock = threading.Lock()

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
        check_model_name(model)
        check_actor(actor)
        candidate = new_version(
            model,
            1,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            manifest_uri=manifest_uri,
            baseline_uri=baseline_uri,
            metrics=metrics,
            primary_metric=primary_metric,
            lineage=lineage,
            at=utc_now(),
        )
        with self._lock:
            entry = self._models.setdefault(model, _Model())
            existing = entry.by_artifact.get(artifact_sha256)
            if existing is not None:
                return entry.versions[existing - 1]
            at = utc_now()
            version = candidate.model_copy(
                update={"version": len(entry.versions) + 1, "registered_at": at, "updated_at": at}
            )
            entry.versions.append(version)
            entry.by_artifact[artifact_sha256] = version.version
            entry.history.append(registration_entry(version, actor=actor))
            return version

    def get(self, model: str, version: int) -> ModelVersion:
        check_model_name(model)
        with self._lock:
            return self._get(model, version)

    def latest(self, model: str) -> ModelVersion | None:
        check_model_name(model)
        with self._lock:
            entry = self._models.get(model)
            return entry.versions[-1] if entry else None

    def list_versions(self, model: str) -> list[ModelVersion]:
        check_model_name(model)
        with self._lock:
            entry = self._models.get(model)
            return list(entry.versions) if entry else []

    def list_models(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def approve(self, model: str, version: int, *, actor: str, reason: str | None = None) -> ModelVersion:
        return self._decide(model, version, ModelStatus.APPROVED, actor=actor, reason=reason)

    def reject(self, model: str, version: int, *, actor: str, reason: str) -> ModelVersion:
        check_reason(reason, "rejection")
        return self._decide(model, version, ModelStatus.REJECTED, actor=actor, reason=reason)

    def alias(self, model: str, alias: str) -> AliasPointer | None:
        check_model_name(model)
        check_alias_name(alias)
        with self._lock:
            entry = self._models.get(model)
            return entry.aliases.get(alias) if entry else None

    def promote(
        self,
        model: str,
        version: int,
        *,
        alias: str = DEFAULT_ALIAS,
        actor: str,
        reason: str | None = None,
    ) -> AliasPointer:
        check_model_name(model)
        check_alias_name(alias)
        check_actor(actor)
        with self._lock:
            target = self._get(model, version)
            check_promotable(target, alias)
            entry = self._models[model]
            current = entry.aliases.get(alias)
            if current is not None and current.version == version:
                return current
            pointer = AliasPointer(
                model=model,
                alias=alias,
                version=version,
                previous_version=current.version if current else None,
                updated_at=utc_now(),
            )
            entry.aliases[alias] = pointer
            entry.history.append(
                move_entry(
                    pointer,
                    HistoryAction.PROMOTED,
                    from_version=pointer.previous_version,
                    actor=actor,
                    reason=reason,
                )
            )
            return pointer

    def rollback(self, model: str, *, alias: str = DEFAULT_ALIAS, actor: str, reason: str) -> AliasPointer:
        check_model_name(model)
        check_alias_name(alias)
        check_actor(actor)
        check_reason(reason, "rollback")
        with self._lock:
            entry = self._models.get(model)
            current = entry.aliases.get(alias) if entry else None
            if entry is None or current is None or current.previous_version is None:
                raise NothingToRollBack(model, alias, current.version if current else None)
            check_promotable(self._get(model, current.previous_version), alias, rolling_back=True)
            pointer = AliasPointer(
                model=model,
                alias=alias,
                version=current.previous_version,
                previous_version=None,
                updated_at=utc_now(),
            )
            entry.aliases[alias] = pointer
            entry.history.append(
                move_entry(
                    pointer,
                    HistoryAction.ROLLED_BACK,
                    from_version=current.version,
                    actor=actor,
                    reason=reason,
                )
            )
            return pointer

    def history(self, model: str) -> list[HistoryEntry]:
        check_model_name(model)
        with self._lock:
            entry = self._models.get(model)
            return list(entry.history) if entry else []

    def _get(self, model: str, version: int) -> ModelVersion:
        entry = self._models.get(model)
        if entry is None or not 1 <= version <= len(entry.versions):
            raise VersionNotFound(model, version)
        return entry.versions[version - 1]

    def _decide(
        self, model: str, version: int, requested: ModelStatus, *, actor: str, reason: str | None
    ) -> ModelVersion:
        check_model_name(model)
        check_actor(actor)
        with self._lock:
            current = self._get(model, version)
            check_decision(current, requested)
            at = utc_now()
            updated = decided(current, requested, actor=actor, reason=reason, at=at)
            entry = self._models[model]
            entry.versions[version - 1] = updated
            entry.history.append(decision_entry(updated, requested, actor=actor, reason=reason, at=at))
            return updated

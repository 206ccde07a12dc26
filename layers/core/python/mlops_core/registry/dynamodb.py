"""The model registry on one DynamoDB table: single-table layout, conditional transactions.

Every model is one partition (``pk = MODEL#<name>``) holding its counter, versions, artifact
index, aliases and history (layout and reasoning in docs/registry.md). Every write that
changes state is one TransactWriteItems whose conditions encode what the writer read, so a
concurrent writer makes it fail instead of being overwritten; the loser re-reads and retries
with jittered backoff, a bounded number of times, then raises :class:`RegistryBusy`.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import TypeAdapter

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
    RegistryBusy,
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

T = TypeVar("T")

META = "META"
VERSION_PREFIX = "VERSION#"
ALIAS_PREFIX = "ALIAS#"
HISTORY_PREFIX = "HISTORY#"
ARTIFACT_PREFIX = "ARTIFACT#"
_KEYS = ("pk", "sk", "item_type")
#: Cancellation reasons that mean "someone else wrote first": re-read and try again.
_RETRYABLE = frozenset({"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"})

_TIME = TypeAdapter(datetime)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def model_key(model: str) -> str:
    return f"MODEL#{model}"


def version_key(version: int) -> str:
    return f"{VERSION_PREFIX}{version:010d}"


def history_key(at: datetime) -> str:
    # Fixed-width UTC time sorts as text; the uuid keeps two entries of one instant apart.
    return f"{HISTORY_PREFIX}{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{uuid.uuid4().hex}"


class _Conflict(Exception):
    """A transaction lost to a concurrent write (internal: triggers a retry)."""


class DynamoDBModelRegistry:
    """The registry on one table, through a boto3 DynamoDB client made once per container."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        max_attempts: int = 12,
        base_delay: float = 0.02,
        max_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.table_name = table_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    # -- versions -----------------------------------------------------------------------

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
        # Validate once before touching the table; the version number is filled in per attempt.
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
        pk = model_key(model)

        def attempt() -> ModelVersion:
            existing = self._get_item(pk, ARTIFACT_PREFIX + artifact_sha256)
            if existing is not None:
                return self.get(model, int(existing["version"]))
            meta = self._get_item(pk, META)
            current = int(meta["latest_version"]) if meta else 0
            at = utc_now()
            version = candidate.model_copy(
                update={"version": current + 1, "registered_at": at, "updated_at": at}
            )
            counter: dict[str, Any] = {
                "TableName": self.table_name,
                "Key": item_key(pk, META),
                "UpdateExpression": (
                    "SET #latest = :next, #model = :model, #type = :type, #updated = :at, "
                    "#created = if_not_exists(#created, :at)"
                ),
                "ExpressionAttributeNames": {
                    "#latest": "latest_version",
                    "#model": "model",
                    "#type": "item_type",
                    "#updated": "updated_at",
                    "#created": "created_at",
                },
                "ExpressionAttributeValues": _values(
                    {":next": version.version, ":model": model, ":type": "model", ":at": _iso(at)}
                ),
            }
            if current:
                counter["ConditionExpression"] = "#latest = :current"
                counter["ExpressionAttributeValues"][":current"] = _serializer.serialize(current)
            else:
                counter["ConditionExpression"] = "attribute_not_exists(sk)"
            self._transact(
                [
                    {"Update": counter},
                    self._put_new(pk, version_key(version.version), "version", _document(version)),
                    self._put_new(
                        pk,
                        ARTIFACT_PREFIX + artifact_sha256,
                        "artifact",
                        {"model": model, "version": version.version, "registered_at": _iso(at)},
                    ),
                    self._put_history(registration_entry(version, actor=actor)),
                ]
            )
            return version

        return self._retrying(model, "registration", attempt)

    def get(self, model: str, version: int) -> ModelVersion:
        check_model_name(model)
        item = self._get_item(model_key(model), version_key(version))
        if item is None:
            raise VersionNotFound(model, version)
        return ModelVersion.model_validate(_plain(item))

    def latest(self, model: str) -> ModelVersion | None:
        check_model_name(model)
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=_values({":pk": model_key(model), ":prefix": VERSION_PREFIX}),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        return ModelVersion.model_validate(_plain(decode_item(items[0]))) if items else None

    def list_versions(self, model: str) -> list[ModelVersion]:
        check_model_name(model)
        return [ModelVersion.model_validate(_plain(item)) for item in self._query(model, VERSION_PREFIX)]

    def list_models(self) -> list[str]:
        # A Scan is fine for a registry's handful of models; a GSI on item_type replaces it at scale.
        names: list[str] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "sk = :meta",
            "ProjectionExpression": "#model",
            "ExpressionAttributeNames": {"#model": "model"},
            "ExpressionAttributeValues": _values({":meta": META}),
            "ConsistentRead": True,
        }
        while True:
            response = self._client.scan(**request)
            names.extend(str(decode_item(item)["model"]) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(names)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- decisions ----------------------------------------------------------------------

    def approve(self, model: str, version: int, *, actor: str, reason: str | None = None) -> ModelVersion:
        return self._decide(model, version, ModelStatus.APPROVED, actor=actor, reason=reason)

    def reject(self, model: str, version: int, *, actor: str, reason: str) -> ModelVersion:
        check_reason(reason, "rejection")
        return self._decide(model, version, ModelStatus.REJECTED, actor=actor, reason=reason)

    def _decide(
        self, model: str, version: int, requested: ModelStatus, *, actor: str, reason: str | None
    ) -> ModelVersion:
        check_model_name(model)
        check_actor(actor)
        pk = model_key(model)

        def attempt() -> ModelVersion:
            current = self.get(model, version)
            check_decision(current, requested)
            at = utc_now()
            updated = decided(current, requested, actor=actor, reason=reason, at=at)
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": _item(pk, version_key(version), "version", _document(updated)),
                            # Exactly the state we decided on: a concurrent decision fails this.
                            "ConditionExpression": "#status = :status AND #updated = :updated",
                            "ExpressionAttributeNames": {"#status": "status", "#updated": "updated_at"},
                            "ExpressionAttributeValues": _values(
                                {":status": current.status.value, ":updated": _iso(current.updated_at)}
                            ),
                        }
                    },
                    self._put_history(decision_entry(updated, requested, actor=actor, reason=reason, at=at)),
                ]
            )
            return updated

        return self._retrying(model, f"{requested} of version {version}", attempt)

    # -- aliases ------------------------------------------------------------------------

    def alias(self, model: str, alias: str) -> AliasPointer | None:
        check_model_name(model)
        check_alias_name(alias)
        item = self._get_item(model_key(model), ALIAS_PREFIX + alias)
        return AliasPointer.model_validate(_plain(item)) if item else None

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

        def attempt() -> AliasPointer:
            check_promotable(self.get(model, version), alias)
            current = self.alias(model, alias)
            if current is not None and current.version == version:
                return current
            pointer = AliasPointer(
                model=model,
                alias=alias,
                version=version,
                previous_version=current.version if current else None,
                updated_at=utc_now(),
            )
            entry = move_entry(
                pointer,
                HistoryAction.PROMOTED,
                from_version=pointer.previous_version,
                actor=actor,
                reason=reason,
            )
            self._move_alias(current, pointer, entry)
            return pointer

        return self._retrying(model, f"promotion of version {version} to {alias!r}", attempt)

    def rollback(self, model: str, *, alias: str = DEFAULT_ALIAS, actor: str, reason: str) -> AliasPointer:
        check_model_name(model)
        check_alias_name(alias)
        check_actor(actor)
        check_reason(reason, "rollback")

        def attempt() -> AliasPointer:
            current = self.alias(model, alias)
            if current is None or current.previous_version is None:
                raise NothingToRollBack(model, alias, current.version if current else None)
            check_promotable(self.get(model, current.previous_version), alias, rolling_back=True)
            # One level of undo: a second rollback must not bounce back to the version just left.
            pointer = AliasPointer(
                model=model, alias=alias, version=current.previous_version, updated_at=utc_now()
            )
            entry = move_entry(
                pointer, HistoryAction.ROLLED_BACK, from_version=current.version, actor=actor, reason=reason
            )
            self._move_alias(current, pointer, entry)
            return pointer

        return self._retrying(model, f"rollback of {alias!r}", attempt)

    def _move_alias(self, current: AliasPointer | None, pointer: AliasPointer, entry: HistoryEntry) -> None:
        """Pointer, its history entry and "the target is still approved" in one transaction."""
        pk = model_key(pointer.model)
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": _item(pk, ALIAS_PREFIX + pointer.alias, "alias", _document(pointer)),
        }
        if current is None:
            put["ConditionExpression"] = "attribute_not_exists(sk)"
        else:
            put["ConditionExpression"] = "#version = :version AND #updated = :updated"
            put["ExpressionAttributeNames"] = {"#version": "version", "#updated": "updated_at"}
            put["ExpressionAttributeValues"] = _values(
                {":version": current.version, ":updated": _iso(current.updated_at)}
            )
        self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": item_key(pk, version_key(pointer.version)),
                        "ConditionExpression": "#status = :approved",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": _values({":approved": ModelStatus.APPROVED.value}),
                    }
                },
                {"Put": put},
                self._put_history(entry),
            ]
        )

    # -- history ------------------------------------------------------------------------

    def history(self, model: str) -> list[HistoryEntry]:
        check_model_name(model)
        return [HistoryEntry.model_validate(_plain(item)) for item in self._query(model, HISTORY_PREFIX)]

    # -- plumbing -----------------------------------------------------------------------

    def _retrying(self, model: str, operation: str, attempt: Callable[[], T]) -> T:
        for number in range(self._max_attempts):
            try:
                return attempt()
            except _Conflict:
                # Full jitter: contenders spread out instead of colliding again in lockstep.
                ceiling = min(self._max_delay, self._base_delay * 2**number)
                self._sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not a secret
        raise RegistryBusy(model, operation, self._max_attempts)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                codes = {
                    reason.get("Code")
                    for reason in error.response.get("CancellationReasons", [])
                    if reason.get("Code") not in (None, "None")
                }
                if codes and codes <= _RETRYABLE:
                    raise _Conflict(sorted(codes)) from error
            raise

    def _put_new(self, pk: str, sk: str, item_type: str, document: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _item(pk, sk, item_type, document),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def _put_history(self, entry: HistoryEntry) -> dict[str, Any]:
        # Append-only: a history item is only ever created, never overwritten.
        return self._put_new(model_key(entry.model), history_key(entry.at), "history", _document(entry))

    def _get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self.table_name, Key=item_key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        return decode_item(item) if item else None

    def _query(self, model: str, prefix: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": _values({":pk": model_key(model), ":prefix": prefix}),
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**request)
            for item in response.get("Items", []):
                yield decode_item(item)
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _iso(moment: datetime) -> str:
    # The very text the entities are stored with, so conditions can compare stored times.
    text: str = _TIME.dump_python(moment, mode="json")
    return text


def item_key(pk: str, sk: str) -> dict[str, Any]:
    """The ``Key`` of an item of the registry table (its other items too: the drift state)."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _document(entity: ModelVersion | AliasPointer | HistoryEntry) -> dict[str, Any]:
    # JSON mode: times as ISO text, enums as their values; None fields are simply not stored.
    return {name: value for name, value in entity.model_dump(mode="json").items() if value is not None}


def _item(pk: str, sk: str, item_type: str, document: Mapping[str, Any]) -> dict[str, Any]:
    return to_attributes({**document, "pk": pk, "sk": sk, "item_type": item_type})


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return to_attributes(values)


def to_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values as DynamoDB attribute values (floats as Decimal)."""
    return {name: _serializer.serialize(_storable(value)) for name, value in values.items()}


def _storable(value: Any) -> Any:
    """Floats as Decimal (DynamoDB numbers); ``repr`` is the shortest text that round-trips."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {key: _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def decode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as an entity's fields (pydantic turns the Decimals back into int and float)."""
    return {name: value for name, value in item.items() if name not in _KEYS}

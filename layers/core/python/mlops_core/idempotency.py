"""Powertools idempotency, set up the same way for every function that needs it.

S3 and EventBridge deliver at least once; each function names the fields of its request
that make two deliveries the same (``key_fields``) and the record is kept for the stack's
IdempotencyTtlSeconds (at least 48 h) in the shared idempotency table.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig


def idempotency_for(
    key_fields: Sequence[str], *, table: str, ttl_seconds: int
) -> tuple[IdempotencyConfig, DynamoDBPersistenceLayer]:
    """The config and store for ``@idempotent_function`` keyed on ``key_fields`` of the request."""
    config = IdempotencyConfig(
        event_key_jmespath=f"[{', '.join(key_fields)}]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
    )
    return config, DynamoDBPersistenceLayer(table_name=table)

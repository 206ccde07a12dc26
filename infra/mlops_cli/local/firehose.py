"""Firehose's S3 delivery as AWS does it: dynamic partitioning, timestamp prefixes, GZIP.

moto writes every batch under the configured prefix taken literally
(``capture/!{partitionKeyFromQuery:model}/...``) and uncompressed. While the local cloud
runs, deliveries to an extended S3 destination go through :func:`deliver` instead: records
are grouped by the keys the destination's MetadataExtraction query takes from them, the
prefix's ``!{partitionKeyFromQuery:...}`` and ``!{timestamp:...}`` are filled in, and the
object is gzipped when the destination says GZIP.

Only the JQ the bundle uses is understood: ``{name: .field, other: .field[start:end]}``.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

from moto.firehose.models import FirehoseBackend
from moto.s3.models import s3_backends

_PAIR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\.([A-Za-z0-9_.]+)(?:\[(\d*):(\d*)\])?\s*$")
_JAVA_TIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


class UnsupportedFirehoseConfig(NotImplementedError):
    """A partitioning query or prefix expression the local cloud does not evaluate."""


def extraction_query(destination: dict[str, Any]) -> str | None:
    """The MetadataExtraction JQ query of a destination with dynamic partitioning, if any."""
    if not destination.get("DynamicPartitioningConfiguration", {}).get("Enabled"):
        return None
    for processor in destination.get("ProcessingConfiguration", {}).get("Processors", []):
        if processor.get("Type") == "MetadataExtraction":
            for parameter in processor.get("Parameters", []):
                if parameter.get("ParameterName") == "MetadataExtractionQuery":
                    return str(parameter["ParameterValue"])
    return None


def partition_keys(query: str, record: dict[str, Any]) -> dict[str, str]:
    """Evaluate ``{name: .a.b, other: .c[0:10]}`` on one JSON record."""
    body = query.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise UnsupportedFirehoseConfig(f"MetadataExtractionQuery {query!r}: expected {{name: .field, ...}}")
    keys: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in body[1:-1].split(","))):
        match = _PAIR.match(pair)
        if match is None:
            raise UnsupportedFirehoseConfig(
                f"MetadataExtractionQuery part {pair!r} is not `name: .field[a:b]`"
            )
        name, path, start, end = match.groups()
        value: Any = record
        for step in path.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        text = "null" if value is None else str(value)
        if start is not None or end is not None:
            text = text[int(start) if start else None : int(end) if end else None]
        keys[name] = text
    return keys


def object_prefix(prefix: str, keys: dict[str, str], now: datetime) -> str:
    def fill(match: re.Match[str]) -> str:
        namespace, _, argument = match.group(1).partition(":")
        if namespace == "partitionKeyFromQuery":
            return keys[argument]
        if namespace == "timestamp":
            pattern = argument
            for java, python in _JAVA_TIME.items():
                pattern = pattern.replace(java, python)
            return now.strftime(pattern)
        raise UnsupportedFirehoseConfig(f"prefix expression !{{{match.group(1)}}} is not emulated")

    return re.sub(r"!\{([^}]+)\}", fill, prefix)


def deliver(
    backend: FirehoseBackend,
    stream: str,
    version: str,
    destination: dict[str, Any],
    records: list[dict[str, bytes]],
) -> list[dict[str, str]]:
    """Write ``records`` as Firehose would, one object per partition."""
    now = datetime.now(UTC)
    query = extraction_query(destination)
    groups: dict[str, list[bytes]] = {}
    for record in records:
        data = record["Data"]
        keys = partition_keys(query, json.loads(data)) if query else {}
        groups.setdefault(object_prefix(destination.get("Prefix", ""), keys, now), []).append(data)
    bucket = destination["BucketARN"].split(":")[-1]
    gzipped = destination.get("CompressionFormat") == "GZIP"
    for prefix, chunks in groups.items():
        name = f"{prefix}{stream}-{version}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}" + (
            ".gz" if gzipped else ""
        )
        body = b"".join(chunks)
        s3_backends[backend.account_id][backend.partition].put_object(
            bucket, name, gzip.compress(body) if gzipped else body
        )
    return [{"RecordId": str(uuid.uuid4())} for _ in records]


@contextmanager
def firehose_as_aws_delivers() -> Iterator[None]:
    """While active, moto's Firehose S3 deliveries partition, fill prefixes and compress."""

    def put_s3_records(
        backend: FirehoseBackend, stream: str, version: str, destination: dict[str, Any], records: list[Any]
    ) -> list[dict[str, str]]:
        return deliver(backend, stream, version, destination, records)

    with patch.object(FirehoseBackend, "put_s3_records", put_s3_records):
        yield

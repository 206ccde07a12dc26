"""Where datasets, contracts and reports live: an interface, and its S3 implementation.

Domain code talks to :class:`ObjectStore`; only :class:`S3ObjectStore` knows boto3.
Reads are pinned to an object version when one is known, so a file replaced while it is
being validated cannot mix two uploads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    # Annotations only: the validation package imports pyarrow.
    from mlops_core.validation.guarded_stream import ReadableBytes


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    version_id: str | None
    etag: str | None


class ObjectMissing(LookupError):
    """The object (or that version of it) does not exist."""


class ObjectStore(Protocol):
    bucket: str

    def uri(self, key: str) -> str: ...

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo: ...

    def open(self, key: str, version_id: str | None = None) -> ReadableBytes: ...

    def read_text(self, key: str) -> str: ...

    def download(self, key: str, version_id: str | None, path: Path) -> None: ...

    def copy(self, key: str, version_id: str | None, destination: str) -> None: ...

    def put_json(self, key: str, document: Any) -> None: ...

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def list_keys(self, prefix: str) -> Iterator[str]: ...


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})


class S3ObjectStore:
    """One bucket through a boto3 S3 client (made once per container by the caller)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        with _missing_as_lookup(key):
            response = self._client.head_object(Bucket=self.bucket, Key=key, **_version(version_id))
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            version_id=response.get("VersionId"),
            etag=str(response.get("ETag", "")).strip('"') or None,
        )

    def open(self, key: str, version_id: str | None = None) -> ReadableBytes:
        with _missing_as_lookup(key):
            response = self._client.get_object(Bucket=self.bucket, Key=key, **_version(version_id))
        body: ReadableBytes = response["Body"]
        return body

    def read_text(self, key: str) -> str:
        body = self.open(key)
        return body.read().decode("utf-8")

    def download(self, key: str, version_id: str | None, path: Path) -> None:
        with _missing_as_lookup(key):
            self._client.download_file(self.bucket, key, str(path), ExtraArgs=_version(version_id) or None)

    def copy(self, key: str, version_id: str | None, destination: str) -> None:
        source = {"Bucket": self.bucket, "Key": key, **_version(version_id)}
        with _missing_as_lookup(key):
            # Managed copy: multipart above 8 MB, so objects over 5 GB copy too.
            self._client.copy(source, self.bucket, destination)

    def put_json(self, key: str, document: Any) -> None:
        body = document if isinstance(document, str | bytes) else json.dumps(document, indent=2, default=str)
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` in key order, page by page (1,000 keys per request)."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])


def _version(version_id: str | None) -> dict[str, str]:
    # S3 reports "null" for objects written before versioning was enabled.
    return {"VersionId": version_id} if version_id and version_id != "null" else {}


@contextmanager
def _missing_as_lookup(key: str) -> Iterator[None]:
    """S3's "no such key/version" as :class:`ObjectMissing`; every other error unchanged."""
    try:
        yield
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in _MISSING_CODES:
            raise ObjectMissing(key) from error
        raise

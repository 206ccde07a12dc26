"""In-memory stand-ins for the adapters, so domain logic is tested without AWS or sockets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_core.object_store import ObjectInfo, ObjectMissing


class InMemoryObjectStore:
    """A versioned bucket in a dict: (key, version) -> bytes; reads pin versions like S3."""

    def __init__(self, bucket: str = "data") -> None:
        self.bucket = bucket
        self.objects: dict[str, list[bytes]] = {}
        self.copies: list[tuple[str, str | None, str]] = []

    def put(self, key: str, body: bytes) -> str:
        self.objects.setdefault(key, []).append(body)
        return str(len(self.objects[key]))

    def _get(self, key: str, version_id: str | None) -> bytes:
        versions = self.objects.get(key)
        if not versions:
            raise ObjectMissing(key)
        if version_id is None:
            return versions[-1]
        index = int(version_id) - 1
        if not 0 <= index < len(versions):
            raise ObjectMissing(key)
        return versions[index]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo:
        return ObjectInfo(key=key, size=len(self._get(key, version_id)), version_id=version_id, etag=None)

    def open(self, key: str, version_id: str | None = None) -> io.BytesIO:
        return io.BytesIO(self._get(key, version_id))

    def read_text(self, key: str) -> str:
        return self._get(key, None).decode()

    def download(self, key: str, version_id: str | None, path: Path) -> None:
        path.write_bytes(self._get(key, version_id))

    def copy(self, key: str, version_id: str | None, destination: str) -> None:
        self.put(destination, self._get(key, version_id))
        self.copies.append((key, version_id, destination))

    def put_json(self, key: str, document: Any) -> None:
        text = document if isinstance(document, str) else json.dumps(document)
        self.put(key, text.encode())

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.put(key, data)

    def list_keys(self, prefix: str) -> Iterator[str]:
        yield from self.keys(prefix)

    def json(self, key: str) -> Any:
        return json.loads(self._get(key, None))

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

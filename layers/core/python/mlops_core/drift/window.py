"""Read a window of captured predictions from ``capture/<model>/dt=<day>/``.

Firehose writes newline-delimited JSON capture records (``mlops_core.capture``), GZIP
compressed, one prefix per model and day. A window is a range of days; every object under
those prefixes is streamed line by line (never whole in memory), so the cost is bounded by
``max_instances``: beyond it a uniform reservoir sample is kept (seeded, so a check is
repeatable). A line that is not a capture record of this model is counted as malformed and
skipped, never fatal. Each day's prefix can be read by its own worker: that is the unit a
Step Functions Distributed Map would fan out when a window outgrows one Lambda.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mlops_core.object_store import ObjectStore

if TYPE_CHECKING:
    # Annotations only: the validation package imports pyarrow.
    from mlops_core.validation.guarded_stream import ReadableBytes

#: Instances kept for the comparison; more are sampled down to this many.
DEFAULT_MAX_INSTANCES = 100_000
#: Longest window, in days (one listing per day).
MAX_WINDOW_DAYS = 366
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class CaptureWindow:
    """The instances of a window (``features`` of each kept record), their predictions, and what was read.

    ``predictions[i]`` is the model's output for ``instances[i]`` (``None`` when the record had none).
    """

    model: str
    start: date
    end: date
    instances: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    files: int = 0
    records: int = 0
    malformed: int = 0
    versions: Counter[int | None] = field(default_factory=Counter)

    @property
    def sampled(self) -> bool:
        return len(self.instances) < self.records


def capture_prefixes(model: str, start: date, end: date) -> list[str]:
    """``capture/<model>/dt=<day>/`` for every day from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    days = (end - start).days + 1
    if days > MAX_WINDOW_DAYS:
        raise ValueError(f"the window spans {days} days; at most {MAX_WINDOW_DAYS}")
    if not model or "/" in model:
        raise ValueError(f"model name {model!r} cannot be a capture prefix")
    return [f"capture/{model}/dt={(start + timedelta(days=n)).isoformat()}/" for n in range(days)]


def read_capture_window(
    store: ObjectStore,
    model: str,
    start: date,
    end: date,
    *,
    version: int | None = None,
    max_instances: int = DEFAULT_MAX_INSTANCES,
    seed: int = 0,
) -> CaptureWindow:
    """Every capture record of ``model`` (of ``version`` only, when given) from ``start`` to ``end``."""
    if max_instances < 1:
        raise ValueError("max_instances must be at least 1")
    window = CaptureWindow(model=model, start=start, end=end)
    rng = random.Random(seed)  # noqa: S311 - a repeatable sample, not a secret
    for prefix in capture_prefixes(model, start, end):
        for key in store.list_keys(prefix):
            window.files += 1
            for line in object_lines(store.open(key)):
                record = _record(line, model)
                if record is None:
                    if line.strip():
                        window.malformed += 1
                    continue
                if version is not None and record.get("version") != version:
                    continue
                window.versions[record.get("version")] += 1
                _keep(window, record, max_instances, rng)
    return window


def _keep(window: CaptureWindow, record: dict[str, Any], limit: int, rng: random.Random) -> None:
    """Reservoir sampling (algorithm R): every record is kept with probability limit / records."""
    window.records += 1
    if len(window.instances) < limit:
        window.instances.append(record["features"])
        window.predictions.append(record.get("prediction"))
        return
    slot = rng.randrange(window.records)
    if slot < limit:
        window.instances[slot] = record["features"]
        window.predictions[slot] = record.get("prediction")


def _record(line: bytes, model: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("model") != model:
        return None
    if not isinstance(record.get("features"), dict):
        return None
    version = record.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        return None
    return record


def object_lines(body: ReadableBytes) -> Iterator[bytes]:
    """The lines of an object, gunzipped when it starts with the GZIP magic bytes."""
    head = body.read(2)
    stream = _Prefixed(head, body)
    if head == _GZIP_MAGIC:
        with gzip.GzipFile(fileobj=stream) as unzipped:  # type: ignore[call-overload]
            yield from unzipped
    else:
        pending = b""
        while chunk := stream.read(1 << 20):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending


class _Prefixed:
    """A readable that returns ``head`` first, then the rest of ``body``."""

    def __init__(self, head: bytes, body: ReadableBytes) -> None:
        self._head = head
        self._body = body

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._body.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._body.read(size - len(data))
            return data
        return self._body.read(size)

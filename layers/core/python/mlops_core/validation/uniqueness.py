"""Uniqueness across a whole file in bounded memory: fingerprints, spilled to disk by partition.

Each value becomes a 64-bit fingerprint (exact for numbers and times, a hash for text).
Fingerprints and their row numbers stay in memory up to a budget; past it they are
appended to one of 64 partition files (by the fingerprint's top bits) in a temporary
folder, so equal values always land in the same partition. At the end each partition is
loaded and sorted on its own: memory is one partition, not the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

#: Fingerprints kept in memory before spilling (12 bytes each with the row number): 12 MB.
MEMORY_BUDGET_ROWS = 1_000_000
PARTITION_BITS = 6
_RECORD = np.dtype([("fingerprint", "<u8"), ("row", "<u4")])


@dataclass(frozen=True)
class Duplicate:
    row: int
    first_row: int


class UniqueTracker:
    """Collects (fingerprint, row) pairs batch by batch; reports rows that repeat a value."""

    def __init__(self, budget_rows: int = MEMORY_BUDGET_ROWS, spill_dir: str | None = None) -> None:
        self._budget = budget_rows
        self._spill_dir = spill_dir
        self._chunks: list[np.ndarray] = []
        self._held = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def add(self, values: pa.Array, rows: np.ndarray) -> None:
        records = np.empty(len(values), dtype=_RECORD)
        records["fingerprint"] = fingerprint(values)
        records["row"] = rows
        self._chunks.append(records)
        self._held += len(records)
        if self._held > self._budget:
            self._spill()

    def duplicates(self, limit: int) -> tuple[int, list[Duplicate]]:
        """How many rows repeat an earlier value, and the first ``limit`` of them in file order."""
        count = 0
        found: list[Duplicate] = []
        for records in self._partitions():
            partition_count, partition_found = _duplicates_in(records, limit)
            count += partition_count
            found.extend(partition_found)
        self.close()
        found.sort(key=lambda d: d.row)
        return count, found[:limit]

    def close(self) -> None:
        self._chunks.clear()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _spill(self) -> None:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="mlops-unique-", dir=self._spill_dir)
        records = np.concatenate(self._chunks)
        self._chunks.clear()
        self._held = 0
        # uint8 keys: numpy's stable sort is a radix sort for them, linear in the records.
        partition = (records["fingerprint"] >> np.uint64(64 - PARTITION_BITS)).astype(np.uint8)
        order = np.argsort(partition, kind="stable")
        records, partition = records[order], partition[order]
        bounds = np.searchsorted(partition, np.arange((1 << PARTITION_BITS) + 1), side="left")
        for index in range(1 << PARTITION_BITS):
            part = records[bounds[index] : bounds[index + 1]]
            if part.size:
                with (Path(self._folder.name) / f"{index:02d}.bin").open("ab") as handle:
                    part.tofile(handle)

    def _partitions(self) -> Iterator[np.ndarray]:
        """One partition at a time: only one is ever loaded."""
        if self._folder is None:
            if self._chunks:
                yield np.concatenate(self._chunks)
            return
        if self._chunks:
            self._spill()
        for path in sorted(Path(self._folder.name).glob("*.bin")):
            yield np.fromfile(path, dtype=_RECORD)


def _duplicates_in(records: np.ndarray, limit: int) -> tuple[int, list[Duplicate]]:
    prints = records["fingerprint"]
    ordered = np.sort(prints)
    repeats = int(np.count_nonzero(ordered[1:] == ordered[:-1]))
    if not repeats:
        return 0, []
    # Rare path: find which rows repeat, earliest occurrence first.
    order = np.lexsort((records["row"], prints))
    prints, rows = prints[order], records["row"][order]
    same_as_previous = np.r_[False, prints[1:] == prints[:-1]]
    run_start = np.maximum.accumulate(np.where(~same_as_previous, np.arange(prints.size), 0))
    positions = np.flatnonzero(same_as_previous)
    positions = positions[np.argsort(rows[positions], kind="stable")][:limit]
    return repeats, [Duplicate(row=int(rows[i]), first_row=int(rows[run_start[i]])) for i in positions]


_OFFSET = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)


def fingerprint(values: pa.Array) -> np.ndarray:
    """64-bit fingerprints, equal for equal values; exact for integers, floats and times."""
    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_timestamp(kind) or pa.types.is_boolean(kind):
        return np.asarray(values.cast(pa.int64()).to_numpy(zero_copy_only=False)).view(np.uint64)
    if pa.types.is_floating(kind):
        floats = np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False)) + 0.0  # -0.0 == 0.0
        return floats.view(np.uint64)
    return _hash_text(values.cast(pa.large_string()))


def _hash_text(strings: pa.Array) -> np.ndarray:
    """Hash UTF-8 strings 8 bytes at a time, one vectorised pass per distinct length."""
    count = len(strings)
    hashes = np.empty(count, dtype=np.uint64)
    if count == 0:
        return hashes
    strings = pa.concat_arrays([strings])  # drops any slice offset, so buffers start at row 0
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[: count + 1]
    buffer = strings.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    by_length = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[by_length]
    edges = np.flatnonzero(np.diff(sorted_lengths)) + 1
    with np.errstate(over="ignore"):
        for group in np.split(by_length, edges):
            length = int(lengths[group[0]])
            words = -(-length // 8) or 1
            matrix = np.zeros((group.size, words * 8), dtype=np.uint8)
            if length:
                matrix[:, :length] = data[starts[group, None] + np.arange(length)]
            lanes = matrix.view(np.uint64)
            h = np.full(group.size, _OFFSET ^ np.uint64(length), dtype=np.uint64)
            for lane in range(words):
                h = (h ^ lanes[:, lane]) * _PRIME
                h ^= h >> np.uint64(29)
            h ^= h >> np.uint64(33)
            h *= _MIX1
            h ^= h >> np.uint64(33)
            h *= _MIX2
            h ^= h >> np.uint64(33)
            hashes[group] = h
    return hashes

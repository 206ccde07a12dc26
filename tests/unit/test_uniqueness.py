"""Uniqueness fingerprints and the spill to disk that keeps their memory bounded."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlops_core.validation.uniqueness import UniqueTracker, fingerprint

TEXTS = ["", "a", "ab", "abcdefgh", "abcdefghi", "C000000001", "é", "日本語テキスト", "x" * 200]


def test_equal_texts_get_equal_fingerprints_whatever_their_batch_position() -> None:
    first = fingerprint(pa.array(TEXTS))
    shuffled = fingerprint(pa.array(list(reversed(TEXTS))).slice(0))

    assert list(first) == list(reversed(shuffled))


def test_distinct_texts_get_distinct_fingerprints() -> None:
    values = [f"K{i:09d}" for i in range(200_000)] + TEXTS + ["abcdefgh\x00"]

    prints = fingerprint(pa.array(values))

    assert len(np.unique(prints)) == len(values)


def test_a_sliced_array_hashes_like_a_fresh_one() -> None:
    whole = pa.array(["zero", "one", "two", "three"])

    assert list(fingerprint(whole.slice(2))) == list(fingerprint(pa.array(["two", "three"])))


@pytest.mark.parametrize(
    ("values", "kind"),
    [([1, 2, 1], pa.int64()), ([0.5, -0.0, 0.0], pa.float64()), ([True, False], pa.bool_())],
    ids=["integers", "floats", "booleans"],
)
def test_numbers_are_fingerprinted_exactly(values: list[object], kind: pa.DataType) -> None:
    prints = fingerprint(pa.array(values, kind))

    assert len(set(prints.tolist())) == len(set(values))


@pytest.mark.parametrize("budget", [10**9, 1_000], ids=["in memory", "spilled"])
def test_duplicates_are_found_across_batches_in_file_order(budget: int) -> None:
    tracker = UniqueTracker(budget_rows=budget)
    rows = 0
    for start in range(0, 20_000, 3_000):
        values = [f"id-{i}" for i in range(start, min(start + 3_000, 20_000))]
        if start == 9_000:
            values[5] = "id-17"  # row 9005 repeats row 17
        if start == 18_000:
            values[0] = "id-9005"  # repeats nothing: 9005 was overwritten above
            values[1] = "id-3"  # row 18001 repeats row 3
        tracker.add(pa.array(values), np.arange(rows, rows + len(values), dtype=np.uint32))
        rows += len(values)

    count, found = tracker.duplicates(limit=20)

    assert count == 2
    assert [(d.row, d.first_row) for d in found] == [(9005, 17), (18001, 3)]


def test_a_value_repeated_many_times_counts_every_repeat_and_keeps_a_sample_limit() -> None:
    tracker = UniqueTracker(budget_rows=100)
    tracker.add(pa.array(["same"] * 500), np.arange(500, dtype=np.uint32))

    count, found = tracker.duplicates(limit=20)

    assert count == 499
    assert len(found) == 20
    assert all(d.first_row == 0 for d in found)
    assert [d.row for d in found] == list(range(1, 21))

"""Reading a window of captured predictions: GZIP or plain lines, by day, sampled, never fatal."""

from __future__ import annotations

import gzip
import io
import json
import sys
import threading
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from mlops_core.capture import CaptureRecord
from mlops_core.drift import window as window_module
from mlops_core.drift.window import (
    UNREAD,
    Reservoir,
    capture_head,
    capture_prefixes,
    line_version,
    read_capture_window,
)
from mlops_core.object_store import S3ObjectStore
from tests.unit.fakes import InMemoryObjectStore


def lines(model: str, version: int | None, values: range, day: int = 5) -> bytes:
    records = [
        CaptureRecord(
            model=model,
            version=version,
            request_id=f"req-{value}",
            time=datetime(2026, 11, day, 9, 0, tzinfo=UTC),
            index=0,
            features={"tenure_months": value, "plan": "pro"},
            prediction=True,
        )
        for value in values
    ]
    return b"".join(record.to_line() for record in records)


def tenures(instances: list[dict[str, Any]]) -> list[int]:
    return sorted(instance["tenure_months"] for instance in instances)


def test_prefixes_cover_every_day_of_the_window() -> None:
    assert capture_prefixes("churn", date(2026, 11, 30), date(2026, 12, 1)) == [
        "capture/churn/dt=2026-11-30/",
        "capture/churn/dt=2026-12-01/",
    ]
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        capture_prefixes("churn", date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(ValueError, match="at most 366"):
        capture_prefixes("churn", date(2025, 1, 1), date(2026, 12, 1))
    with pytest.raises(ValueError, match="capture prefix"):
        capture_prefixes("a/b", date(2026, 12, 1), date(2026, 12, 1))


def test_gzip_and_plain_objects_in_the_window_are_read_and_other_days_are_not() -> None:
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/part-1.gz", gzip.compress(lines("churn", 1, range(0, 50))))
    store.put("capture/churn/dt=2026-11-06/part-2", lines("churn", 1, range(50, 70), day=6))
    store.put("capture/churn/dt=2026-11-07/part-3.gz", gzip.compress(lines("churn", 1, range(70, 80), day=7)))
    store.put("capture/churner/dt=2026-11-05/part-4.gz", gzip.compress(lines("churner", 1, range(80, 90))))

    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6))

    assert (window.files, window.records, window.malformed) == (2, 70, 0)
    assert tenures(window.instances) == list(range(70))
    assert window.versions == {1: 70}
    assert not window.sampled


def test_concatenated_gzip_members_are_all_read() -> None:
    store = InMemoryObjectStore()
    body = gzip.compress(lines("churn", 1, range(10))) + gzip.compress(lines("churn", 1, range(10, 25)))
    store.put("capture/churn/dt=2026-11-05/part.gz", body)
    assert tenures(
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5)).instances
    ) == list(range(25))


def test_malformed_lines_are_counted_and_skipped() -> None:
    store = InMemoryObjectStore()
    body = (
        lines("churn", 1, range(3))
        + b"not json\n"
        + b"[1, 2]\n"
        + b'{"model": "churn", "version": 1, "features": "x"}\n'
        + b'{"model": "churn", "version": "1", "features": {}}\n'
        + b"\n"
        + lines("churn", 1, range(3, 5))
    )
    store.put("capture/churn/dt=2026-11-05/part", body.rstrip(b"\n"))  # no final newline
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert window.malformed == 4
    assert tenures(window.instances) == [0, 1, 2, 3, 4]


def test_one_version_can_be_selected() -> None:
    store = InMemoryObjectStore()
    store.put(
        "capture/churn/dt=2026-11-05/a", lines("churn", 1, range(10)) + lines("churn", 2, range(10, 14))
    )
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), version=2)
    assert tenures(window.instances) == [10, 11, 12, 13]
    assert window.versions == {2: 4}


def test_large_windows_are_sampled_uniformly_and_repeatably() -> None:
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/a", lines("churn", 1, range(0, 5000)))
    store.put("capture/churn/dt=2026-11-06/b", lines("churn", 1, range(5000, 10000), day=6))
    first = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=1000)
    again = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=1000)
    assert len(first.instances) == 1000 and first.records == 10000 and first.sampled
    assert tenures(first.instances) == tenures(again.instances)
    second_day = sum(1 for value in tenures(first.instances) if value >= 5000)
    assert 400 < second_day < 600  # both days are represented, not just the first one read
    with pytest.raises(ValueError, match="max_instances"):
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=0)


@mock_aws
def test_the_s3_store_lists_keys_under_a_prefix() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="data")
    client.put_object(
        Bucket="data",
        Key="capture/churn/dt=2026-11-05/a.gz",
        Body=gzip.compress(lines("churn", 3, range(40))),
    )
    client.put_object(
        Bucket="data", Key="capture/churn/dt=2026-11-05/b", Body=lines("churn", 3, range(40, 45))
    )
    client.put_object(
        Bucket="data", Key="capture/churn/dt=2026-11-06/c", Body=lines("churn", 3, range(99, 100))
    )
    store = S3ObjectStore(client, "data")
    assert list(store.list_keys("capture/churn/dt=2026-11-05/")) == [
        "capture/churn/dt=2026-11-05/a.gz",
        "capture/churn/dt=2026-11-05/b",
    ]
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert tenures(window.instances) == list(range(45))


# --- reading a line's version from its first bytes -------------------------------------------

HEAD = capture_head("churn")
TRICKY_LINES = [
    # (line, version read from the first bytes)
    (b'{"model":"churn","version":3,"features":{"a":1}}', 3),
    (b'{"model":"churn","version":null,"features":{}}', None),
    (b'{"model":"churn","version":-0,"features":{}}', 0),
    (b'{"model":"churn","version":12,"request_id":"\\"version\\":7","features":{"version":5}}', 12),
    (b'{"model":"churn","version":2,"features":{"note":"{\\"model\\":\\"x\\",\\"version\\":9}"}}', 2),
    (b'{"model":"churn","features":{},"version":4}', UNREAD),  # another key order: parsed
    (b'{"version":4,"model":"churn","features":{}}', UNREAD),
    (b'{"model": "churn", "version": 4, "features": {}}', UNREAD),  # spaces: parsed
    (b'{"model":"churn","version":true,"features":{}}', UNREAD),  # a boolean is no version
    (b'{"model":"churn","version":1.0,"features":{}}', UNREAD),
    (b'{"model":"churn","version":"1","features":{}}', UNREAD),
    (b'{"model":"churn","version":01,"features":{}}', UNREAD),  # not JSON
    (b'{"model":"churn","version":1}', UNREAD),  # no comma after the version
    (b'{"model":"churn","version":' + b"9" * 30 + b',"features":{}}', UNREAD),  # left to json
    (b'{"model":"churner","version":1,"features":{}}', UNREAD),  # another model
    (b'{"model":"chu\\u0072n","version":1,"features":{}}', UNREAD),  # escaped: parsed
    (b'{"model":"churn","features":{}}', UNREAD),  # no version
    (b"", UNREAD),
    (b"not json", UNREAD),
]


@pytest.mark.parametrize(("line", "expected"), TRICKY_LINES)
def test_the_version_is_read_from_the_first_bytes_only_when_they_settle_it(
    line: bytes, expected: object
) -> None:
    assert line_version(line, HEAD) == expected


@pytest.mark.parametrize(("line", "expected"), TRICKY_LINES)
def test_a_version_read_from_the_first_bytes_is_the_one_json_reads(line: bytes, expected: object) -> None:
    if expected is UNREAD:
        return
    record = json.loads(line)
    assert (record["model"], record["version"]) == ("churn", expected)


JSON_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), JSON_TEXT)


@settings(max_examples=300, deadline=None)
@given(
    model=st.one_of(st.sampled_from(["churn", 'ch"urn', "ch\\urn", "čhurn", "version"]), JSON_TEXT),
    version=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), JSON_TEXT),
    features=st.dictionaries(st.sampled_from(["version", "model", "a", '"version":1', "x"]), FIELD_VALUES),
    spacing=st.sampled_from([(",", ":"), (", ", ": "), None]),
    first=st.sampled_from(["model", "version", "features"]),
)
def test_first_bytes_agree_with_json_on_any_record(
    model: str, version: Any, features: dict[str, Any], spacing: tuple[str, str] | None, first: str
) -> None:
    """Whatever the writer, a version read from the first bytes is json.loads's (or none is read)."""
    fields = {"model": model, "version": version, "features": features}
    ordered = {first: fields.pop(first), **fields}
    line = json.dumps(ordered, separators=spacing).encode()
    read = line_version(line, capture_head(model))
    record = json.loads(line)
    if read is not UNREAD:
        assert record["model"] == model and record["version"] == read
        assert not isinstance(record["version"], bool)
    writer = spacing == (",", ":") and first == "model"
    if writer and (version is None or (type(version) is int and abs(version) < 10**18)):
        assert read == version  # the capture writer's own lines are read from the first bytes


# --- lines read from the first bytes, parsed only when kept -----------------------------------


def record_line(value: int, version: int | None = 1, **extra: Any) -> bytes:
    record = {
        "model": "churn",
        "version": version,
        "request_id": f"req-{value}",
        "features": {"tenure_months": value, "plan": "pro"},
        "prediction": True,
        **extra,
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def test_mixed_versions_and_foreign_spellings_in_one_object_are_all_counted() -> None:
    store = InMemoryObjectStore()
    body = b"".join(
        record_line(value, version=1 + value % 2)
        if value % 5
        else json.dumps(
            {"version": 1 + value % 2, "model": "churn", "features": {"tenure_months": value}}
        ).encode()
        + b"\r\n"
        for value in range(200)
    )
    store.put("capture/churn/dt=2026-11-05/a.gz", gzip.compress(body))
    every = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert (every.records, every.malformed) == (200, 0)
    assert every.versions == {1: 100, 2: 100}
    assert tenures(every.instances) == list(range(200))
    two = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), version=2)
    assert two.versions == {2: 100}
    assert tenures(two.instances) == list(range(1, 200, 2))


def test_a_kept_line_that_does_not_parse_is_malformed_and_not_a_record() -> None:
    store = InMemoryObjectStore()
    truncated = record_line(1)[:40] + b"\n"
    duplicate = record_line(2)[:-2] + b',"version":2}\n'  # json.loads keeps the last "version"
    not_utf8 = record_line(3)[:-3] + b'\xff"}\n'
    features_not_an_object = b'{"model":"churn","version":1,"features":[1]}\n'
    body = record_line(0) + truncated + duplicate + not_utf8 + features_not_an_object + record_line(4)
    store.put("capture/churn/dt=2026-11-05/a", body)
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), version=1)
    assert (window.records, window.malformed) == (2, 4)
    assert window.versions == {1: 2}
    assert tenures(window.instances) == [0, 4]
    assert not window.sampled


def test_a_line_that_is_sampled_out_is_counted_from_its_first_bytes() -> None:
    """Documented: a corrupt line with a record's first bytes that is not kept is never parsed."""
    store = InMemoryObjectStore()
    body = b"".join(record_line(value) for value in range(100)) + record_line(100)[:40] + b"\n"
    store.put("capture/churn/dt=2026-11-05/a", body)
    kept = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), max_instances=1000)
    assert (kept.records, kept.malformed, len(kept.instances)) == (100, 1, 100)
    sampled = [
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), max_instances=10, seed=s)
        for s in range(40)
    ]
    for window in sampled:
        assert window.records + window.malformed == 101
        assert len(window.instances) + window.malformed == 10
        assert window.sampled
    assert {w.malformed for w in sampled} == {0, 1}  # parsed, hence malformed, only when kept


def test_objects_and_lines_larger_than_a_block_are_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window_module, "_BLOCK_BYTES", 64)  # every line spans several reads
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/a.gz", gzip.compress(lines("churn", 1, range(300))))
    store.put("capture/churn/dt=2026-11-05/b", lines("churn", 1, range(300, 320)).rstrip(b"\n"))
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert (window.records, window.malformed) == (320, 0)
    assert tenures(window.instances) == list(range(320))


def test_without_isal_the_standard_library_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryObjectStore()
    body = gzip.compress(lines("churn", 1, range(500))) + gzip.compress(lines("churn", 1, range(500, 900)))
    store.put("capture/churn/dt=2026-11-05/a.gz", body)
    store.put("capture/churn/dt=2026-11-06/b.gz", gzip.compress(lines("churn", 1, range(900, 1000), day=6)))

    def read() -> tuple[list[int], int, Counter[int | None]]:
        w = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 6), max_instances=300)
        return [i["tenure_months"] for i in w.instances], w.records, w.versions

    accelerated = read()
    monkeypatch.setitem(sys.modules, "isal", None)  # ImportError on `from isal import igzip`
    assert read() == accelerated


def test_an_error_while_reading_stops_the_reader_and_is_raised() -> None:
    class Failing(InMemoryObjectStore):
        def open(self, key: str, version_id: str | None = None) -> io.BytesIO:
            if key.endswith("b.gz"):
                raise OSError("connection reset")
            return super().open(key, version_id)

    store = Failing()
    store.put("capture/churn/dt=2026-11-05/a.gz", gzip.compress(lines("churn", 1, range(10))))
    store.put("capture/churn/dt=2026-11-05/b.gz", gzip.compress(lines("churn", 1, range(10))))
    before = threading.active_count()
    with pytest.raises(OSError, match="connection reset"):
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert threading.active_count() == before


@pytest.mark.parametrize("isal", [True, False], ids=["isal", "stdlib"])
def test_a_damaged_gzip_object_is_read_up_to_the_damage_named_and_the_others_read(
    monkeypatch: pytest.MonkeyPatch, isal: bool
) -> None:
    # Given a good object beside three damaged ones: a header that is not GZIP, a stream cut
    # off, and deflate data with a flipped byte (large enough that the damage is past a block)
    if not isal:
        monkeypatch.setitem(sys.modules, "isal", None)
    monkeypatch.setattr(window_module, "_BLOCK_BYTES", 4096)
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/a-good.gz", gzip.compress(lines("churn", 1, range(10))))
    store.put("capture/churn/dt=2026-11-05/b-header.gz", b"\x1f\x8b not gzip at all")
    whole = gzip.compress(lines("churn", 1, range(100, 3100)))
    store.put("capture/churn/dt=2026-11-05/c-cut.gz", whole[: len(whole) * 2 // 3])
    flipped = bytearray(gzip.compress(lines("churn", 1, range(5000, 8000))))
    flipped[len(flipped) * 2 // 3] ^= 0xFF
    store.put("capture/churn/dt=2026-11-05/d-flipped.gz", bytes(flipped))

    # When the window is read
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))

    # Then each damaged object is named with its reason, and the good records are all there
    damaged = [entry.split(":", 1)[0] for entry in window.unreadable]
    assert damaged == [
        "capture/churn/dt=2026-11-05/b-header.gz",
        "capture/churn/dt=2026-11-05/c-cut.gz",
        "capture/churn/dt=2026-11-05/d-flipped.gz",
    ]
    assert all(": " in entry for entry in window.unreadable)
    values = tenures(window.instances)
    assert values[:10] == list(range(10))
    # what the cut and flipped objects held before the damage was read, and nothing twice
    assert len(values) == len(set(values)) == window.records
    assert window.records > 10


def test_an_error_while_sampling_stops_the_reader_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    store = InMemoryObjectStore()
    for part in range(20):  # more blocks than the reader reads ahead
        store.put(f"capture/churn/dt=2026-11-05/{part}", lines("churn", 1, range(part * 10, part * 10 + 10)))
    monkeypatch.setattr(window_module, "_BLOCK_BYTES", 256)

    def fail(self: object, block: object) -> None:
        raise RuntimeError("sampling failed")

    monkeypatch.setattr(window_module._WindowReader, "read", fail)
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="sampling failed"):
        read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5))
    assert threading.active_count() == before


def test_lines_ending_with_crlf_are_records() -> None:
    store = InMemoryObjectStore()
    store.put("capture/churn/dt=2026-11-05/a", lines("churn", 1, range(30)).replace(b"\n", b"\r\n"))
    window = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), max_instances=10)
    assert (window.records, window.malformed, len(window.instances)) == (30, 0, 10)


# --- the reservoir --------------------------------------------------------------------------


def offered(limit: int, runs: list[int], seed: int) -> list[int]:
    sample = Reservoir(limit, seed)
    start = 0
    for count in runs:
        sample.offer(count, lambda indices, start=start: [start + i for i in indices])
        start += count
    return sample.items


def test_the_reservoir_keeps_every_item_with_the_same_chance() -> None:
    items, limit, draws = 60, 12, 3000
    seen = Counter(item for seed in range(draws) for item in offered(limit, [items], seed))
    expected = draws * limit / items  # 600
    spread = (draws * (limit / items) * (1 - limit / items)) ** 0.5  # about 22
    assert all(abs(seen[item] - expected) < 5 * spread for item in range(items)), seen
    assert sum(seen.values()) == draws * limit


def test_the_sample_depends_on_the_seed_and_the_items_not_on_how_they_come() -> None:
    one_run = offered(50, [1000], seed=3)
    assert len(one_run) == len(set(one_run)) == 50
    assert offered(50, [7, 0, 300, 1, 1, 691], seed=3) == one_run
    assert offered(50, [1] * 1000, seed=3) == one_run
    assert offered(50, [1000], seed=4) != one_run
    assert offered(50, [30], seed=3) == list(range(30))  # fewer items than the limit: all of them
    with pytest.raises(ValueError, match="at least one"):
        Reservoir(0)


@pytest.mark.parametrize("readers", [1, 3])
def test_objects_read_by_several_threads_are_sampled_in_key_order(
    monkeypatch: pytest.MonkeyPatch, readers: int
) -> None:
    store = InMemoryObjectStore()
    for part in range(9):
        body = lines("churn", 1 + part % 2, range(part * 100, part * 100 + 100))
        store.put(f"capture/churn/dt=2026-11-05/{part}.gz", gzip.compress(body))
    monkeypatch.setattr(window_module, "_BLOCK_BYTES", 512)

    def read() -> tuple[list[int], Counter[int | None], int]:
        w = read_capture_window(store, "churn", date(2026, 11, 5), date(2026, 11, 5), max_instances=250)
        return [i["tenure_months"] for i in w.instances], w.versions, w.files

    monkeypatch.setattr(window_module, "_READERS", 1)
    one = read()
    monkeypatch.setattr(window_module, "_READERS", readers)
    assert read() == one
    assert one[1:] == ({1: 500, 2: 400}, 9)

"""The validation engine on any upload: a report that names every violation, never an exception.

validate_csv_stream documents no exception for bad data: whatever the bytes, it returns a
ValidationReport. Rows generated to meet the contract validate clean; one value broken in
one field is reported against that field, with the rule it broke.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from datetime import datetime

from hypothesis import example, given
from hypothesis import strategies as st

from mlops_core.validation import SourceInfo, ValidationReport, ViolationKind, validate_csv_stream

from ..conftest import churn_contract
from .conftest import share_of_examples

CONTRACT = churn_contract(
    columns=[
        {"name": "id", "type": "string", "unique": True, "pattern": "^[a-z]+$", "max_length": 5},
        {"name": "n", "type": "integer", "min": 0, "max": 9},
        {"name": "x", "type": "float", "nullable": True},
        {"name": "t", "type": "datetime", "min": "2000-01-01"},
        {"name": "b", "type": "boolean"},
        {"name": "c", "type": "category", "allowed": ["p", "q"]},
    ],
)
NAMES = CONTRACT.column_names
#: Violations about one column, which must name it.
COLUMN_KINDS = frozenset(
    {
        ViolationKind.MISSING_COLUMN,
        ViolationKind.UNEXPECTED_COLUMN,
        ViolationKind.TYPE_MISMATCH,
        ViolationKind.NULL_VALUE,
        ViolationKind.NON_FINITE,
        ViolationKind.BELOW_MIN,
        ViolationKind.ABOVE_MAX,
        ViolationKind.NOT_ALLOWED,
        ViolationKind.PATTERN_MISMATCH,
        ViolationKind.TOO_LONG,
        ViolationKind.DUPLICATE_VALUE,
    }
)
CELLS = st.sampled_from(
    [
        b"",
        b"a",
        b"zz",
        b"1",
        b"-1",
        b"3.5",
        b"inf",
        b"nan",
        b"1e309",
        b"99999999999999999999",
        b"true",
        b"p",
        b"2024-01-01",
        b"2024-02-30",
        b"2024-01-01T10:00:00+02:00",
        b'"q"',
        b'"a,b"',
        b'"x\ny"',
        b'"',
        b'""',
        b'"a"b',
        b"\xff",
        b"\x00",
        b"\xc3\xa9",
        b"\xef\xbb\xbf",
        b" ",
        b";",
        b"\r",
        b"\t",
    ]
) | st.binary(max_size=6)
HEADER_NAMES = st.sampled_from([*NAMES, "extra", '"id"', '"n\n"', '"x', "\ufeffid", "id ", ""]).map(
    str.encode
)


def _validate(data: bytes, name: str = "fuzz.csv") -> ValidationReport:
    report = validate_csv_stream(
        io.BytesIO(data), CONTRACT, source=SourceInfo(uri=f"file:///{name}", format="csv", bytes=len(data))
    )
    assert isinstance(report, ValidationReport)
    assert report.valid == (not report.violations)
    for violation in report.violations:
        assert violation.count >= 1 and violation.message, violation
        assert len(violation.samples) <= 20
        if violation.kind in COLUMN_KINDS:
            assert violation.column is not None, violation
            assert violation.column in NAMES or violation.column in report.columns, violation
    return report


def _gzip(data: bytes, members: int = 1, file_name: str | None = None) -> bytes:
    """gzip as the command-line tool writes it (with the file's name), in one or more members."""
    cut = [len(data) * i // members for i in range(members + 1)]
    out = io.BytesIO()
    for start, end in itertools.pairwise(cut):
        with gzip.GzipFile(filename=file_name or "", mode="wb", fileobj=out, mtime=0) as member:
            member.write(data[start:end])
    return out.getvalue()


@given(
    header=st.lists(HEADER_NAMES, max_size=8),
    rows=st.lists(st.lists(CELLS, max_size=8).map(b",".join), max_size=30),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    compress=st.sampled_from([None, 1, 2]),
)
@example(header=[b'"id\n"', b"n"], rows=[b"a,1"], newline=b"\n", bom=False, compress=None)
@example(header=[b'"x'], rows=[b"a"], newline=b"\r", bom=False, compress=None)
def test_csv_shaped_uploads_always_get_a_report(
    header: list[bytes], rows: list[bytes], newline: bytes, bom: bool, compress: int | None
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + newline.join([b",".join(header), *rows]) + newline
    if compress is None:
        _validate(data)
    else:
        _validate(_gzip(data, compress, "upload.csv"), "fuzz.csv.gz")


@given(data=st.binary(max_size=2048))
@example(data=b"\x1f\x8b" + b"\x00" * 20)
@example(data=b"")
@example(data=b"\xef\xbb\xbf")
def test_arbitrary_bytes_always_get_a_report(data: bytes) -> None:
    _validate(data)
    _validate(data, "fuzz.csv.gz")


@given(
    text=st.text(max_size=300),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252", "utf-32"]),
)
def test_text_in_any_encoding_always_gets_a_report(text: str, encoding: str) -> None:
    data = ("id,n,x,t,b,c\n" + text).encode(encoding, errors="replace")
    report = _validate(data)

    if encoding.startswith(("utf-16", "utf-32")):
        refusals = {ViolationKind.BINARY_CONTENT, ViolationKind.NUL_BYTE, ViolationKind.INVALID_ENCODING}
        assert refusals & {v.kind for v in report.violations}, report.violations


@share_of_examples(0.1)
@given(size=st.sampled_from([1 << 16, (2 << 20) + 7]), quoted=st.booleans())
def test_a_huge_field_gets_a_report(size: int, quoted: bool) -> None:
    field = b"a" * size
    if quoted:
        field = b'"' + field[:-2] + b'"'
    report = _validate(b"id,n,x,t,b,c\n" + field + b",1,2.5,2024-01-01,true,p\nb,1,,2024-01-01,false,q\n")

    assert [(v.kind, v.column) for v in report.violations] == [(ViolationKind.TOO_LONG, "id")]
    assert report.rows == 2


# -- round trip: rows made to meet the contract ---------------------------------------------------

IDS = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=5), min_size=1, max_size=25, unique=True
)
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2199, 12, 31))


@st.composite
def good_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    rows = []
    for identifier in draw(IDS):
        x = draw(st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6))
        moment = draw(MOMENTS)
        shape = draw(st.sampled_from(["date", "space", "t", "z", "offset"]))
        rows.append(
            {
                "id": identifier,
                "n": str(draw(st.integers(0, 9))),
                "x": "" if x is None else repr(x),
                "t": _iso(moment, shape),
                "b": draw(st.sampled_from(CONTRACT.csv.true_values + CONTRACT.csv.false_values)),
                "c": draw(st.sampled_from(["p", "q"])),
            }
        )
    return rows


def _iso(moment: datetime, shape: str) -> str:
    if shape == "date":
        return moment.date().isoformat()
    if shape == "space":
        return moment.isoformat(sep=" ")
    if shape == "z":
        return moment.isoformat() + "Z"
    if shape == "offset":
        return moment.isoformat() + "-01:30"  # still after 2000-01-01 in UTC
    return moment.isoformat()


def _csv(rows: list[dict[str, str]], order: list[str], newline: str, quoting: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=order, lineterminator=newline, quoting=quoting)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


LAYOUT = {
    "order": st.permutations(NAMES),
    "newline": st.sampled_from(["\n", "\r\n"]),
    "quoting": st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    "packing": st.sampled_from(["plain", "bom", "gzip", "gzip-bom", "gzip-members"]),
}


def _pack(data: bytes, packing: str) -> tuple[bytes, str]:
    if packing == "plain":
        return data, "fuzz.csv"
    if packing == "bom":
        return b"\xef\xbb\xbf" + data, "fuzz.csv"
    if packing == "gzip-members":
        return _gzip(data, 3, "upload.csv"), "fuzz.csv.gz"
    body = b"\xef\xbb\xbf" + data if packing == "gzip-bom" else data
    return _gzip(body, 1, "upload.csv"), "fuzz.csv.gz"


def _with_null_quoting(quoting: int) -> int:
    # QUOTE_ALL writes an empty value as "", which is text, not null (quoted_strings_can_be_null).
    return csv.QUOTE_MINIMAL if quoting == csv.QUOTE_ALL else quoting


@given(rows=good_rows(), **LAYOUT)
@example(
    rows=[{"id": "a", "n": "1", "x": "", "t": "2024-01-01", "b": "true", "c": "p"}],
    order=NAMES,
    newline="\n",
    quoting=csv.QUOTE_MINIMAL,
    packing="gzip-bom",
)
def test_rows_that_meet_the_contract_validate_clean(
    rows: list[dict[str, str]], order: list[str], newline: str, quoting: int, packing: str
) -> None:
    data, name = _pack(_csv(rows, list(order), newline, _with_null_quoting(quoting)), packing)

    report = _validate(data, name)

    assert report.violations == []
    assert report.rows == len(rows)


#: One broken value per field, and the one violation it must cause.
BREAKS: dict[str, list[tuple[str, ViolationKind]]] = {
    "id": [
        ("Ab", ViolationKind.PATTERN_MISMATCH),
        ("abcdef", ViolationKind.TOO_LONG),
        ("", ViolationKind.NULL_VALUE),
        ("(a later row repeats it)", ViolationKind.DUPLICATE_VALUE),
    ],
    "n": [
        ("10", ViolationKind.ABOVE_MAX),
        ("-1", ViolationKind.BELOW_MIN),
        ("1.5", ViolationKind.TYPE_MISMATCH),
    ],
    "x": [
        ("inf", ViolationKind.NON_FINITE),
        ("nan", ViolationKind.NON_FINITE),
        ("1,5", ViolationKind.TYPE_MISMATCH),
    ],
    "t": [
        ("1999-12-31", ViolationKind.BELOW_MIN),
        ("2024-02-30", ViolationKind.TYPE_MISMATCH),
        ("", ViolationKind.NULL_VALUE),
    ],
    "b": [("yes", ViolationKind.TYPE_MISMATCH), ("", ViolationKind.NULL_VALUE)],
    "c": [("r", ViolationKind.NOT_ALLOWED), ("P", ViolationKind.NOT_ALLOWED), ("", ViolationKind.NULL_VALUE)],
}


@given(rows=good_rows(), field=st.sampled_from(NAMES), data=st.data(), **LAYOUT)
def test_one_broken_value_is_reported_against_its_field(
    rows: list[dict[str, str]],
    field: str,
    data: st.DataObject,
    order: list[str],
    newline: str,
    quoting: int,
    packing: str,
) -> None:
    value, kind = data.draw(st.sampled_from(BREAKS[field]), label="break")
    row = data.draw(st.integers(0, len(rows) - 1), label="row")
    if kind is ViolationKind.DUPLICATE_VALUE:
        rows.append(dict(rows[row]))  # a later row repeating the row, its id included
    else:
        rows[row] = {**rows[row], field: value}
    csv_bytes = _csv(rows, list(order), newline, _with_null_quoting(quoting))
    data_bytes, name = _pack(csv_bytes, packing)

    report = _validate(data_bytes, name)

    assert {v.column for v in report.violations} == {field}, report.violations
    assert kind in {v.kind for v in report.violations}
    broken = next(v for v in report.violations if v.kind is kind)
    assert broken.count == 1
    assert broken.samples[0].line is not None

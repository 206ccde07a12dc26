"""Property tests: whatever bytes arrive, the engine returns a report, never an exception."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_core.contracts import ContractError, load_contract
from mlops_core.validation import SourceInfo, validate_csv_stream

from ..conftest import churn_contract

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
HEADER = b"id,n,x,t,b,c\n"
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
        b"\xff",
        b"\x00",
        b"\xc3\xa9",
        b" ",
        b";",
        b"\r",
    ]
)
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=8).map(b",".join), max_size=30)


def _validate(data: bytes, name: str = "fuzz.csv") -> None:
    report = validate_csv_stream(
        io.BytesIO(data), CONTRACT, source=SourceInfo(uri=f"file:///{name}", format="csv", bytes=len(data))
    )
    assert report.valid == (not report.violations)
    assert all(v.count >= 1 for v in report.violations)
    assert all(len(v.samples) <= 20 for v in report.violations)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, newline=st.sampled_from([b"\n", b"\r\n"]))
def test_csv_shaped_input_always_gets_a_report(rows: list[bytes], newline: bytes) -> None:
    _validate(HEADER + newline.join(rows) + newline)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_always_get_a_report(data: bytes) -> None:
    _validate(data)
    _validate(data, "fuzz.csv.gz")


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400))
def test_a_contract_either_loads_or_raises_a_contract_error(text: str) -> None:
    error = _contract_error(text)

    if error is not None:
        assert error.errors
        assert all(e.field and e.message for e in error.errors)


def _contract_error(text: str) -> ContractError | None:
    try:
        load_contract(text)
    except ContractError as error:
        return error
    return None

"""The validation engine: every bad input gets a named violation with its lines."""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_core.contracts import DataContract
from mlops_core.validation import ValidationReport, ViolationKind, validate_file

from ..conftest import CHURN_HEADER, GOOD_ROWS, churn_contract

K = ViolationKind
WriteFile = Callable[..., Path]


def _kinds(report: ValidationReport) -> dict[str, int]:
    return report.counts_by_kind()


def _only(report: ValidationReport, kind: ViolationKind):  # type: ignore[no-untyped-def]
    found = [v for v in report.violations if v.kind is kind]
    assert len(found) == 1, report.violations
    return found[0]


def test_a_clean_file_is_valid_with_its_rows_and_hash(write_file: WriteFile, contract: DataContract) -> None:
    path = write_file([CHURN_HEADER, *GOOD_ROWS])

    report = validate_file(path, contract)

    assert report.valid, report.violations
    assert report.rows == 3
    assert report.columns == CHURN_HEADER.split(",")
    assert report.source.sha256 is not None and len(report.source.sha256) == 64
    assert report.contract_sha256 == contract.fingerprint()


def test_an_empty_file_is_named(write_file: WriteFile, contract: DataContract) -> None:
    report = validate_file(write_file(b""), contract)

    assert _kinds(report) == {"empty_file": 1}
    assert not report.valid


def test_a_header_only_file_has_no_data_rows(write_file: WriteFile, contract: DataContract) -> None:
    report = validate_file(write_file([CHURN_HEADER]), contract)

    assert _kinds(report) == {"no_data_rows": 1}


def test_duplicate_header_names_stop_before_pandas_would_rename_them(
    write_file: WriteFile, contract: DataContract
) -> None:
    report = validate_file(write_file([CHURN_HEADER + ",plan", *[r + ",pro" for r in GOOD_ROWS]]), contract)

    violation = _only(report, K.DUPLICATE_HEADER)
    assert "['plan']" in violation.message
    assert report.stopped_early


def test_short_and_long_rows_are_reported_by_line_and_never_shift_columns(
    write_file: WriteFile, contract: DataContract
) -> None:
    path = write_file([CHURN_HEADER, GOOD_ROWS[0], "C000009,1,2.0", GOOD_ROWS[1] + ",extra", GOOD_ROWS[2]])

    report = validate_file(path, contract)

    short, long_ = _only(report, K.SHORT_ROW), _only(report, K.LONG_ROW)
    assert (short.count, short.samples[0].line, short.samples[0].detail) == (
        1,
        3,
        "expected 6 fields, found 3",
    )
    assert (long_.count, long_.samples[0].line) == (1, 4)
    assert report.rows == 2  # the well-formed rows; the last one keeps its own columns
    assert _kinds(report) == {"short_row": 1, "long_row": 1}


def test_line_numbers_of_value_violations_count_skipped_malformed_rows(
    write_file: WriteFile, contract: DataContract
) -> None:
    path = write_file(
        [CHURN_HEADER, "x,y", "a,b,c,d,e,f,g", GOOD_ROWS[0], "C000002,-5,1.0,basic,2024-01-01,true"]
    )

    report = validate_file(path, contract)

    assert _only(report, K.BELOW_MIN).samples[0].line == 5


def test_invalid_utf8_is_named_with_its_line_and_a_bom_is_fine(
    write_file: WriteFile, contract: DataContract
) -> None:
    bad = (CHURN_HEADER + "\n" + GOOD_ROWS[0] + "\nC000002,1,2.0,pro,2024-01-01,caf\xe9\n").encode("latin-1")
    report = validate_file(write_file(bad), contract)

    violation = _only(report, K.INVALID_ENCODING)
    assert violation.samples[0].line == 3
    assert "UTF-8" in violation.message

    with_bom = b"\xef\xbb\xbf" + "\n".join([CHURN_HEADER, *GOOD_ROWS]).encode()
    assert validate_file(write_file(with_bom, "bom.csv"), contract).valid


def test_nul_bytes_are_named_with_their_line(write_file: WriteFile, contract: DataContract) -> None:
    data = "\n".join([CHURN_HEADER, GOOD_ROWS[0], "C000002,1\x00,2.0,pro,2024-01-01,true"]).encode()

    violation = _only(validate_file(write_file(data), contract), K.NUL_BYTE)

    assert violation.samples[0].line == 3


def test_inf_and_nan_are_not_numbers_a_contract_accepts(
    write_file: WriteFile, contract: DataContract
) -> None:
    rows = [
        "C000001,1,inf,basic,2024-01-01,true",
        "C000002,1,-inf,basic,2024-01-01,true",
        "C000003,1,NaN,basic,2024-01-01,true",
    ]

    violation = _only(validate_file(write_file([CHURN_HEADER, *rows]), contract), K.NON_FINITE)

    assert violation.count == 3
    assert [s.value for s in violation.samples] == ["inf", "-inf", "NaN"]


def test_mixed_types_in_a_typed_column_are_counted_with_samples(
    write_file: WriteFile, contract: DataContract
) -> None:
    rows = [
        "C000001,12,1.0,basic,2024-01-01,true",
        "C000002,twelve,1.0,basic,2024-01-01,true",
        "C000003,3.5,abc,basic,2024-13-45,maybe",
    ]

    report = validate_file(write_file([CHURN_HEADER, *rows]), contract)

    mismatches = {
        v.column: [s.value for s in v.samples] for v in report.violations if v.kind is K.TYPE_MISMATCH
    }
    assert mismatches == {
        "tenure_months": ["twelve", "3.5"],
        "monthly_charges": ["abc"],
        "signup_at": ["2024-13-45"],
        "churned": ["maybe"],
    }


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (gzip.compress(b"a,b\n1,2\n"), "gzip"),
        (b"PK\x03\x04" + b"\x00" * 40, "zip"),
        (b"PAR1" + b"\x00" * 40, "Parquet"),
        (pickle.dumps({"a": 1}), "pickle"),
        (b"BZh91AY&SY" + b"\x00" * 10, "bzip2"),
    ],
    ids=["gzip", "zip", "parquet", "pickle", "bzip2"],
)
def test_binary_content_under_a_csv_name_is_refused_unparsed(
    write_file: WriteFile, contract: DataContract, content: bytes, named: str
) -> None:
    violation = _only(validate_file(write_file(content, "upload.csv"), contract), K.BINARY_CONTENT)

    assert named in violation.message


def test_gzip_named_csv_gz_is_decompressed_and_validated(
    write_file: WriteFile, contract: DataContract
) -> None:
    data = gzip.compress("\n".join([CHURN_HEADER, *GOOD_ROWS]).encode())

    report = validate_file(write_file(data, "data.csv.gz"), contract)

    assert report.valid, report.violations
    assert report.rows == 3


def test_a_gzip_file_of_several_members_is_read_to_the_end(
    write_file: WriteFile, contract: DataContract
) -> None:
    # `cat a.csv.gz b.csv.gz` is one gzip file; the rows of the second member were once skipped.
    data = gzip.compress(f"{CHURN_HEADER}\n{GOOD_ROWS[0]}\n".encode()) + gzip.compress(
        b"C000002,700,70.25,pro,2023-06-30,true\n"
    )

    report = validate_file(write_file(data, "data.csv.gz"), contract)

    assert report.rows == 2
    assert _kinds(report) == {"above_max": 1}


def test_a_bom_after_a_gzip_header_with_the_file_name_is_stripped(
    write_file: WriteFile, contract: DataContract
) -> None:
    # The gzip tool stores the file's name: the first compressed chunk then holds no text yet.
    out = io.BytesIO()
    with gzip.GzipFile(filename="customers-november.csv", mode="wb", fileobj=out) as member:
        member.write(b"\xef\xbb\xbf" + "\n".join([CHURN_HEADER, *GOOD_ROWS]).encode())

    report = validate_file(write_file(out.getvalue(), "data.csv.gz"), contract)

    assert report.valid, report.violations


def test_bytes_after_the_gzip_stream_are_a_malformed_file(
    write_file: WriteFile, contract: DataContract
) -> None:
    data = gzip.compress("\n".join([CHURN_HEADER, *GOOD_ROWS]).encode()) + b"trailing text"

    report = validate_file(write_file(data, "data.csv.gz"), contract)

    assert _kinds(report) == {"malformed_file": 1}
    assert "after the end of the gzip stream" in _only(report, K.MALFORMED_FILE).message


def test_zero_padding_after_the_gzip_stream_is_ignored(write_file: WriteFile, contract: DataContract) -> None:
    data = gzip.compress("\n".join([CHURN_HEADER, *GOOD_ROWS]).encode()) + b"\x00" * 512

    report = validate_file(write_file(data, "data.csv.gz"), contract)

    assert report.valid, report.violations


def test_a_truncated_gzip_file_is_malformed_not_shorter(
    write_file: WriteFile, contract: DataContract
) -> None:
    whole = gzip.compress("\n".join([CHURN_HEADER, *GOOD_ROWS * 40]).encode())

    report = validate_file(write_file(whole[: len(whole) // 2], "data.csv.gz"), contract)

    assert _kinds(report) == {"malformed_file": 1}
    assert "truncated" in _only(report, K.MALFORMED_FILE).message


def test_a_gzip_bomb_stops_at_max_bytes_of_output(write_file: WriteFile) -> None:
    contract = churn_contract(max_bytes=1_000_000)
    bomb = gzip.compress(CHURN_HEADER.encode() + b"\n" + b"0" * 50_000_000)

    report = validate_file(write_file(bomb, "bomb.csv.gz"), contract)

    assert _kinds(report) == {"decompressed_too_large": 1}
    assert len(bomb) < 1_000_000


def test_a_header_wider_than_max_columns_is_refused_after_the_header(write_file: WriteFile) -> None:
    contract = churn_contract(max_columns=50)
    header = ",".join(f"c{i}" for i in range(51))
    body = "\n".join(["1," * 50 + "1"] * 10)

    report = validate_file(write_file(header + "\n" + body + "\n"), contract)

    assert _kinds(report) == {"too_many_columns": 1}
    assert report.rows == 0


def test_an_object_over_max_bytes_is_refused_before_reading(write_file: WriteFile) -> None:
    contract = churn_contract(max_bytes=10)

    report = validate_file(write_file([CHURN_HEADER, *GOOD_ROWS]), contract)

    assert _kinds(report) == {"object_too_large": 1}
    assert report.source.sha256 is None  # not read


def test_missing_and_extra_columns(write_file: WriteFile, contract: DataContract) -> None:
    header = CHURN_HEADER.replace(",churned", ",notes")
    report = validate_file(write_file([header, *[r.rsplit(",", 1)[0] + ",hi" for r in GOOD_ROWS]]), contract)

    assert {(v.kind, v.column) for v in report.violations} == {
        (K.MISSING_COLUMN, "churned"),
        (K.UNEXPECTED_COLUMN, "notes"),
    }

    ignoring = churn_contract(extra_columns="ignore")
    report = validate_file(write_file([CHURN_HEADER + ",notes", *[r + ",hi" for r in GOOD_ROWS]]), ignoring)
    assert report.valid, report.violations


def test_nulls_ranges_allowed_patterns_lengths_and_datetime_bounds(write_file: WriteFile) -> None:
    contract = churn_contract(
        columns=[
            {"name": "customer_id", "type": "string", "pattern": "^C[0-9]{6}$", "max_length": 7},
            {"name": "tenure_months", "type": "integer", "min": 0, "max": 600},
            {"name": "plan", "type": "category", "allowed": ["basic", "plus", "pro"]},
            {"name": "signup_at", "type": "datetime", "min": "2000-01-01", "nullable": True},
        ]
    )
    rows = ["C000001,601,gold,1999-12-31", "X1,,basic,", "C0000012,-1,pro,2001-01-01"]

    report = validate_file(write_file(["customer_id,tenure_months,plan,signup_at", *rows]), contract)

    assert _kinds(report) == {
        "pattern_mismatch": 2,
        "too_long": 1,
        "above_max": 1,
        "below_min": 2,
        "null_value": 1,
        "not_allowed": 1,
    }
    below = {v.column: [s.line for s in v.samples] for v in report.violations if v.kind is K.BELOW_MIN}
    assert below == {"tenure_months": [4], "signup_at": [2]}


def test_uniqueness_holds_across_batches(write_file: WriteFile, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_core.validation import engine

    monkeypatch.setattr(engine, "BLOCK_SIZE", 4096)  # many small batches
    contract = churn_contract(
        columns=[
            {"name": "id", "type": "string", "unique": True},
            {"name": "n", "type": "integer", "unique": True},
        ]
    )
    rows = [f"K{i:07d},{i}" for i in range(5000)] + ["K0000007,5000", "K0004999,7"]

    report = validate_file(write_file(["id,n", *rows]), contract)

    duplicates = {v.column: v for v in report.violations if v.kind is K.DUPLICATE_VALUE}
    assert {c: v.count for c, v in duplicates.items()} == {"id": 2, "n": 1}
    assert [(s.line, s.detail) for s in duplicates["id"].samples] == [
        (5002, "same value as line 9"),
        (5003, "same value as line 5001"),
    ]


def test_row_bounds(write_file: WriteFile) -> None:
    rows = [CHURN_HEADER, *GOOD_ROWS]
    assert _kinds(validate_file(write_file(rows), churn_contract(min_rows=5))) == {"too_few_rows": 1}

    report = validate_file(write_file(rows), churn_contract(max_rows=2))
    assert _kinds(report) == {"too_many_rows": 1}


def test_pii_values_never_appear_in_the_report(write_file: WriteFile) -> None:
    contract = churn_contract(
        columns=[
            {"name": "email", "type": "string", "pii": True, "pattern": "@"},
            {"name": "age", "type": "integer", "max": 120},
        ]
    )
    path = write_file(["email,age", "jane.doe.example,130", "lonely-secret", "bob@example.com,1,2"])

    report = validate_file(path, contract)
    text = report.model_dump_json()

    assert report.counts_by_kind() == {"pattern_mismatch": 1, "above_max": 1, "short_row": 1, "long_row": 1}
    for secret in ("jane.doe", "bob@example", "lonely-secret"):
        assert secret not in text
    assert report.sample_rows[0].values == {"email": "***", "age": "130"}


def test_an_unterminated_quote_swallows_the_row_and_is_named(
    write_file: WriteFile, contract: DataContract
) -> None:
    report = validate_file(write_file(CHURN_HEADER + '\n"C000001,12,29.5,basic,2024-01-05,false\n'), contract)

    assert _kinds(report) == {"short_row": 1, "too_few_rows": 1}
    assert _only(report, K.SHORT_ROW).samples[0].line == 2


def test_quoted_newlines_stay_inside_their_value(write_file: WriteFile) -> None:
    contract = churn_contract(columns=[{"name": "note", "type": "string"}, {"name": "n", "type": "integer"}])

    report = validate_file(write_file('note,n\n"two\nlines",1\nplain,2\n'), contract)

    assert report.valid, report.violations
    assert report.rows == 2


def test_blank_lines_are_named(write_file: WriteFile, contract: DataContract) -> None:
    report = validate_file(write_file([CHURN_HEADER, GOOD_ROWS[0], "", GOOD_ROWS[1]]), contract)

    assert _only(report, K.EMPTY_ROW).samples[0].line == 3


def test_parquet_is_checked_with_its_own_types(tmp_path: Path) -> None:
    contract = churn_contract(
        format="parquet",
        columns=[
            {"name": "id", "type": "string", "unique": True},
            {"name": "age", "type": "integer", "max": 120},
            {"name": "score", "type": "float"},
        ],
    )
    table = pa.table({"id": ["a", "b", "a"], "age": [1, 200, 3], "score": ["x", "y", "z"]})
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)

    report = validate_file(path, contract)

    assert report.line_numbers == "row"
    assert report.counts_by_kind() == {"duplicate_value": 1, "above_max": 1, "type_mismatch": 3}
    assert _only(report, K.ABOVE_MAX).samples[0].line == 2


def test_a_csv_sent_as_parquet_is_malformed(write_file: WriteFile) -> None:
    contract = churn_contract(format="parquet")

    report = validate_file(write_file([CHURN_HEADER, *GOOD_ROWS], "data.parquet"), contract)

    assert _kinds(report) == {"malformed_file": 1}


def test_a_zip_is_refused_even_when_it_holds_a_csv(write_file: WriteFile, contract: DataContract) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "\n".join([CHURN_HEADER, *GOOD_ROWS]))

    assert _kinds(validate_file(write_file(buffer.getvalue()), contract)) == {"binary_content": 1}


def test_a_pattern_python_accepts_but_re2_does_not_is_a_contract_error(write_file: WriteFile) -> None:
    contract = churn_contract(columns=[{"name": "code", "type": "string", "pattern": "^(?<=a)b$"}])

    report = validate_file(write_file(["code", "ab"]), contract)

    violation = _only(report, K.CONTRACT_INVALID)
    assert "columns[code].pattern" in violation.message
    assert "RE2" in violation.message


def test_line_numbers_stay_exact_past_many_malformed_rows(write_file: WriteFile) -> None:
    contract = churn_contract(
        columns=[{"name": "a", "type": "integer", "max": 5}, {"name": "b", "type": "integer"}]
    )
    lines = ["a,b"]
    for i in range(300):
        lines.append("1" if i % 3 == 0 else f"{9 if i == 250 else 1},{i}")

    report = validate_file(write_file(lines), contract)

    assert _only(report, K.SHORT_ROW).count == 100
    assert _only(report, K.ABOVE_MAX).samples[0].line == 252  # line 1 is the header


def test_a_file_of_nothing_but_malformed_rows_stops_at_the_cap(
    write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_core.validation import engine

    monkeypatch.setattr(engine, "MAX_MALFORMED_ROWS", 50)
    contract = churn_contract(columns=[{"name": "a", "type": "integer"}, {"name": "b", "type": "integer"}])

    report = validate_file(write_file(["a,b", *["1;2"] * 500]), contract)

    assert _only(report, K.SHORT_ROW).count == 50
    assert report.stopped_early is not None and "delimiter" in report.stopped_early


def test_old_mac_line_endings_still_find_the_header(write_file: WriteFile) -> None:
    contract = churn_contract(columns=[{"name": "a", "type": "integer"}, {"name": "b", "type": "integer"}])

    report = validate_file(write_file(b"a,b\r1,2\r3,4\r"), contract)

    assert report.valid, report.violations
    assert report.rows == 2


def test_a_carriage_return_inside_the_first_line_ends_the_header(write_file: WriteFile) -> None:
    # Found by the property tests: b"\r\x01" once crashed the header parser.
    contract = churn_contract(columns=[{"name": "a", "type": "integer"}])

    report = validate_file(write_file(b"a\r\x01\n"), contract)

    assert _kinds(report) == {"type_mismatch": 1}
    assert _only(report, K.TYPE_MISMATCH).samples[0].line == 2


def test_a_header_name_quoted_open_at_the_end_of_the_line_is_malformed(write_file: WriteFile) -> None:
    # Found by the property tests: Arrow read the quoted name on into the next line, so the
    # header it saw lacked a column this parse had found (ArrowKeyError).
    contract = churn_contract(columns=[{"name": "a", "type": "integer"}, {"name": "b", "type": "integer"}])

    report = validate_file(write_file(b'"a\n",b\n1,2\n'), contract)

    assert _kinds(report) == {"malformed_file": 1}
    violation = _only(report, K.MALFORMED_FILE)
    assert violation.samples[0].line == 1
    assert "header line cannot be parsed" in violation.message

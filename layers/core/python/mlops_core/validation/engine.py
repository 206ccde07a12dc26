"""The validation engine: one pass over a CSV or Parquet file, in bounded memory.

CSV bytes flow raw -> :class:`GuardedStream` (hash, gzip cap, UTF-8, NUL) -> Arrow's
streaming CSV reader (every column read as text, malformed rows reported by line) ->
:class:`ColumnChecker` per contract column. Parquet is read row group by row group.
Neither path ever holds the whole file: memory depends on the block size, not the file.
"""

from __future__ import annotations

import bisect
import csv
import io
import os
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mlops_core.contracts import ColumnSpec, ColumnType, DataContract, DataFormat, ExtraColumns
from mlops_core.validation.column_checks import BatchFindings, ColumnChecker
from mlops_core.validation.guarded_stream import GuardedStream, ReadableBytes, StreamViolation, sniff_binary
from mlops_core.validation.report import (
    MASK,
    MAX_SAMPLES,
    SampleRow,
    SourceInfo,
    ValidationReport,
    Violation,
    ViolationKind,
    ViolationSample,
)

#: Bytes of text read to find the header line. A longer header is refused unread.
HEADER_LIMIT = 1 << 20
#: Arrow parses the CSV in blocks of this many bytes: the unit of memory and of work.
#: Peak RSS grows with it (Arrow reads ahead); 2 MiB keeps a run near 200 MB.
BLOCK_SIZE = 2 << 20
#: Batches parsed but not yet checked: parsing and checking overlap on two cores.
BATCHES_IN_FLIGHT = 2
#: Past this many malformed rows the file is not CSV of the contract's shape: stop reading.
MAX_MALFORMED_ROWS = 1_000_000
#: Rows per Parquet batch.
PARQUET_BATCH_ROWS = 131_072

Progress = Callable[[int, int], None]
"""Called with (bytes read, total bytes) as the file is read."""


class FatalViolation(Exception):
    """Reading cannot go on; the violation is the reason."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


def validate_file(
    path: str | os.PathLike[str],
    contract: DataContract,
    *,
    progress: Progress | None = None,
    uri: str | None = None,
) -> ValidationReport:
    """Validate a local file against a contract."""
    file_path = Path(path)
    size = file_path.stat().st_size
    source = SourceInfo(uri=uri or file_path.resolve().as_uri(), format=contract.format.value, bytes=size)
    if contract.format is DataFormat.PARQUET:
        return validate_parquet(file_path, contract, source=source, progress=progress)
    with file_path.open("rb") as raw:
        return validate_csv_stream(raw, contract, source=source, progress=progress)


def validate_csv_stream(
    raw: ReadableBytes,
    contract: DataContract,
    *,
    source: SourceInfo,
    progress: Progress | None = None,
) -> ValidationReport:
    """Validate CSV bytes read from ``raw`` (a file or an S3 body) against a contract."""
    run = _Run(contract, source)
    stream: GuardedStream | None = None
    try:
        _precheck_size(source, contract)
        stream = _open_guarded(raw, source, contract, progress)
        header = _read_header(stream, contract)
        run.columns = header
        present = check_columns(run, header)
        _read_rows(run, stream, header, present)
        source.sha256 = stream.sha256 if stream.exhausted else None
    except FatalViolation as stop:
        run.stop(stop.violation)
    except StreamViolation as stop:
        run.stop(
            Violation(
                kind=stop.kind,
                count=1,
                message=stop.message,
                samples=[ViolationSample(line=stop.line)] if stop.line else [],
            )
        )
    finally:
        if stream is not None:
            stream.close()
    return run.report()


def validate_parquet(
    path: Path,
    contract: DataContract,
    *,
    source: SourceInfo,
    progress: Progress | None = None,
) -> ValidationReport:
    """Validate a local Parquet file, row group by row group."""
    from mlops_core.validation.parquet_reader import read_parquet  # noqa: PLC0415 - only Parquet needs pyarrow.parquet

    run = _Run(contract, source, line_numbers="row")
    try:
        _precheck_size(source, contract)
        read_parquet(run, path, progress)
    except FatalViolation as stop:
        run.stop(stop.violation)
    return run.report()


# -- the steps of a CSV run ---------------------------------------------------------------
def _precheck_size(source: SourceInfo, contract: DataContract) -> None:
    _check_patterns(contract)
    if source.bytes == 0:
        raise FatalViolation(
            Violation(kind=ViolationKind.EMPTY_FILE, count=1, message="the file is empty (0 bytes)")
        )
    if source.bytes > contract.max_bytes:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.OBJECT_TOO_LARGE,
                count=1,
                message=f"the object is {source.bytes} bytes, over max_bytes ({contract.max_bytes}); "
                "it was not read. Raise max_bytes in the contract or split the file",
            )
        )


def _check_patterns(contract: DataContract) -> None:
    """Patterns run on Arrow's RE2, which lacks some Python features (look-arounds, backrefs)."""
    probe = pa.array(["x"], pa.string())
    for spec in contract.columns:
        if spec.pattern is None:
            continue
        try:
            pc.match_substring_regex(probe, spec.pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise FatalViolation(
                Violation(
                    kind=ViolationKind.CONTRACT_INVALID,
                    column=spec.name,
                    count=1,
                    message=f"columns[{spec.name}].pattern {spec.pattern!r} is not valid RE2 syntax "
                    f"(no look-arounds or back-references): {exc}",
                )
            ) from exc


class _Prefixed:
    """Replays bytes already read before the rest of a stream."""

    def __init__(self, head: bytes, rest: ReadableBytes) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._rest.read(size)


def _open_guarded(
    raw: ReadableBytes, source: SourceInfo, contract: DataContract, progress: Progress | None
) -> GuardedStream:
    head = raw.read(16)
    binary = sniff_binary(head)
    compressed = source.uri.endswith(".gz")
    if binary is not None and not (compressed and head.startswith(b"\x1f\x8b")):
        hint = " Name it .csv.gz to have it decompressed." if head.startswith(b"\x1f\x8b") else ""
        raise FatalViolation(
            Violation(
                kind=ViolationKind.BINARY_CONTENT,
                count=1,
                message=f"the object holds {binary}, not CSV text: upload a UTF-8 CSV file.{hint}",
            )
        )
    total = source.bytes
    report_progress = (lambda done: progress(done, total)) if progress is not None else None
    return GuardedStream(
        _Prefixed(head, raw), max_output_bytes=contract.max_bytes, gzip=compressed, progress=report_progress
    )


def _read_header(stream: GuardedStream, contract: DataContract) -> list[str]:
    text = stream.peek(HEADER_LIMIT)
    if not text.strip():
        raise FatalViolation(
            Violation(kind=ViolationKind.EMPTY_FILE, count=1, message="the file has no header and no data")
        )
    # Arrow ends a line at \n, \r\n or a lone \r: so does the header.
    ends = [position for position in (text.find(b"\n"), text.find(b"\r")) if position >= 0]
    end = min(ends) if ends else -1
    if end < 0 and len(text) >= HEADER_LIMIT:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.TOO_MANY_COLUMNS,
                count=1,
                message=f"the header line is longer than {HEADER_LIMIT} bytes "
                f"(max_columns is {contract.max_columns}); the file was not read further",
            )
        )
    line = text[: end if end >= 0 else len(text)].decode("utf-8")
    options = contract.csv
    try:
        # Strict: a quoted name left open at the end of the line would run on into the data
        # for Arrow (quoted values may span lines) and name other columns than this parse.
        fields = next(
            csv.reader(
                io.StringIO(line, newline=""),
                delimiter=options.delimiter,
                quotechar=options.quote_char,
                strict=True,
            ),
            [],
        )
    except csv.Error as exc:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.MALFORMED_FILE,
                count=1,
                message=f"the header line cannot be parsed as CSV: {exc}; column names are one line, "
                "each either plain or wholly quoted",
                samples=[ViolationSample(line=1)],
            )
        ) from exc
    check_header_names(fields, contract)
    return fields


def check_header_names(names: list[str], contract: DataContract) -> None:
    """Refuse a header too wide to read or with a name twice (pandas would rename it a.1)."""
    if len(names) > contract.max_columns:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.TOO_MANY_COLUMNS,
                count=1,
                message=f"the header has {len(names)} columns, over max_columns ({contract.max_columns}); "
                "the file was not read further",
            )
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.DUPLICATE_HEADER,
                count=len(duplicates),
                message=f"the header names {duplicates} more than once; each column needs a unique name",
                samples=[ViolationSample(line=1, value=name) for name in duplicates[:MAX_SAMPLES]],
            )
        )


def check_columns(run: _Run, header: list[str]) -> list[ColumnSpec]:
    """Missing and unexpected columns; returns the contract columns the file has."""
    contract = run.contract
    found = set(header)
    for spec in contract.columns:
        if spec.name not in found:
            run.add(
                Violation(
                    kind=ViolationKind.MISSING_COLUMN,
                    column=spec.name,
                    count=1,
                    message=f"column {spec.name!r} is in the contract but not in the file",
                )
            )
    if contract.extra_columns is ExtraColumns.REJECT:
        for name in header:
            if name not in contract.column_names:
                run.add(
                    Violation(
                        kind=ViolationKind.UNEXPECTED_COLUMN,
                        column=name,
                        count=1,
                        message=f"column {name!r} is not in the contract "
                        "(remove it, add it to the contract, or set extra_columns: ignore)",
                    )
                )
    return [spec for spec in contract.columns if spec.name in found]


def _read_rows(run: _Run, stream: GuardedStream, header: list[str], present: list[ColumnSpec]) -> None:
    checkers = [ColumnChecker(spec, run.contract.csv) for spec in present]
    run.checkers = checkers
    try:
        # open_csv parses the first block at once, so it is inside the try too.
        with _open_reader(run, stream, header, present) as reader:
            _check_batches(run, reader, checkers)
    except pa.ArrowInvalid as exc:
        if run.too_many_malformed:
            run.stopped_early = (
                f"more than {MAX_MALFORMED_ROWS} rows with the wrong number of fields; "
                "reading stopped there: is the delimiter or quote character right?"
            )
            return
        raise FatalViolation(
            Violation(
                kind=ViolationKind.MALFORMED_FILE,
                count=1,
                message=f"the CSV cannot be parsed after line {run.line_of_row(run.parsed_rows)}: {exc}",
            )
        ) from exc


def _open_reader(
    run: _Run, stream: GuardedStream, header: list[str], present: list[ColumnSpec]
) -> pa_csv.CSVStreamingReader:
    options = run.contract.csv
    return pa_csv.open_csv(
        stream,
        read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_SIZE),
        parse_options=pa_csv.ParseOptions(
            delimiter=options.delimiter,
            quote_char=options.quote_char,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=run.on_malformed_row,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            include_columns=[spec.name for spec in present],
            null_values=options.null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            # GuardedStream has already checked every byte is UTF-8 (and says on which line).
            check_utf8=False,
        ),
    )


def _check_batches(run: _Run, reader: pa_csv.CSVStreamingReader, checkers: list[ColumnChecker]) -> None:
    """Arrow parses the next block (releasing the GIL) while one worker checks the previous
    one; batches are checked in file order, at most BATCHES_IN_FLIGHT held at a time."""
    max_rows = run.contract.max_rows
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="checks") as checking:
        for batch in reader:
            run.parsed_rows += batch.num_rows
            pending.append(checking.submit(run.check_batch, batch, checkers))
            if len(pending) >= BATCHES_IN_FLIGHT:
                pending.popleft().result()
            if max_rows is not None and run.parsed_rows > max_rows:
                run.stopped_early = f"more than max_rows ({max_rows}) rows; reading stopped there"
                break
        while pending:
            pending.popleft().result()


# -- the run's bookkeeping ------------------------------------------------------------------
class _Run:
    """Everything one validation accumulates; turns into the report at the end."""

    def __init__(self, contract: DataContract, source: SourceInfo, line_numbers: str = "line") -> None:
        self.contract = contract
        self.source = source
        self.line_numbers = line_numbers
        self.started = datetime.now(UTC)
        self.clock = time.perf_counter()
        self.columns: list[str] = []
        self.rows = 0
        self.parsed_rows = 0
        self.violations: list[Violation] = []
        self.sample_rows: list[SampleRow] = []
        self.checkers: list[ColumnChecker] = []
        self.stopped_early: str | None = None
        # One entry per malformed line (8 bytes each), for line numbers; capped by MAX_MALFORMED_ROWS.
        self._skip_keys = array("q")
        self.too_many_malformed = False
        self._short: list[ViolationSample] = []
        self._long: list[ViolationSample] = []
        self._short_count = 0
        self._long_count = 0
        self._empty_rows = 0
        self._empty_samples: list[ViolationSample] = []
        self._pii = contract.pii_columns

    def add(self, violation: Violation) -> None:
        self.violations.append(violation)

    def stop(self, violation: Violation) -> None:
        self.add(violation)
        self.stopped_early = violation.message

    def on_malformed_row(self, row: Any) -> str:
        """Arrow's callback for a row with the wrong number of fields: count, sample, skip."""
        line = row.number if row.number is not None and row.number >= 0 else None
        if line is not None:
            self._skip_keys.append(line - len(self._skip_keys))
        if self._short_count + self._long_count >= MAX_MALFORMED_ROWS:
            self.too_many_malformed = True
            return "error"  # Arrow raises; _read_rows reports where it stopped
        short = row.actual_columns < row.expected_columns
        samples = self._short if short else self._long
        if short:
            self._short_count += 1
        else:
            self._long_count += 1
        if len(samples) < MAX_SAMPLES:
            text = row.text if not self._pii else MASK
            samples.append(
                ViolationSample(
                    line=line,
                    value=text[:200],
                    detail=f"expected {row.expected_columns} fields, found {row.actual_columns}",
                )
            )
        return "skip"

    def line_of_row(self, row: int) -> int | None:
        """The line of the row-th parsed data row (0-based), past skipped malformed lines.

        With skipped lines S (ascending, distinct), a row lands after the k-th one exactly
        when S[k] - k <= row + 2; S[k] - k never decreases, so a binary search counts them.
        """
        if self.line_numbers == "row":
            return row + 1
        line = row + 2
        return line + bisect.bisect_right(self._skip_keys, line)

    def check_batch(self, batch: pa.RecordBatch, checkers: list[ColumnChecker]) -> None:
        first_row = self.rows
        self.rows += batch.num_rows
        findings = BatchFindings()

        def line_of(index: int) -> int | None:
            return self.line_of_row(first_row + index)

        for index, checker in enumerate(checkers):
            column = batch.column(index)
            if self.line_numbers == "row":
                checker.check_typed(column, first_row, line_of, findings)
            else:
                checker.check_text(column, first_row, line_of, findings)
        if self.line_numbers == "line" and checkers:
            self._empty_rows_in(batch, line_of, findings)
        self._sample_rows(batch, findings, line_of)

    def _empty_rows_in(
        self, batch: pa.RecordBatch, line_of: Callable[[int], int | None], findings: BatchFindings
    ) -> None:
        if batch.column(0).null_count == 0:
            return
        empty = pc.is_null(batch.column(0))
        for column in batch.columns[1:]:
            empty = pc.and_(empty, pc.is_null(column))
        count = pc.sum(empty).as_py() or 0
        if not count:
            return
        self._empty_rows += count
        for index in pc.indices_nonzero(empty)[:MAX_SAMPLES].to_pylist():
            findings.bad_rows.append(index)
            if len(self._empty_samples) < MAX_SAMPLES:
                self._empty_samples.append(ViolationSample(line=line_of(index)))

    def _sample_rows(
        self, batch: pa.RecordBatch, findings: BatchFindings, line_of: Callable[[int], int | None]
    ) -> None:
        room = MAX_SAMPLES - len(self.sample_rows)
        if room <= 0 or not findings.bad_rows:
            return
        names = batch.schema.names
        for index in sorted(set(findings.bad_rows))[:room]:
            values: dict[str, str | None] = {}
            for position, name in enumerate(names):
                value = batch.column(position)[index].as_py()
                values[name] = None if value is None else (MASK if name in self._pii else str(value))
            self.sample_rows.append(SampleRow(line=line_of(index), values=values))

    def report(self) -> ValidationReport:
        for checker in self.checkers:
            self.violations.extend(checker.finish(self.line_of_row))
        self._row_violations()
        finished = datetime.now(UTC)
        self.sample_rows.sort(key=lambda r: r.line or 0)
        return ValidationReport(
            dataset=self.contract.dataset,
            contract_version=self.contract.version,
            contract_sha256=self.contract.fingerprint(),
            source=self.source,
            valid=not self.violations,
            rows=self.rows,
            columns=self.columns,
            violations=self.violations,
            sample_rows=self.sample_rows,
            line_numbers="row" if self.line_numbers == "row" else "line",
            stopped_early=self.stopped_early,
            started_at=self.started,
            finished_at=finished,
            seconds=round(time.perf_counter() - self.clock, 6),
            engine={"pyarrow": pa.__version__},
        )

    def _row_violations(self) -> None:
        if self._short_count:
            self.add(
                Violation(
                    kind=ViolationKind.SHORT_ROW,
                    count=self._short_count,
                    samples=self._short,
                    message="rows with fewer fields than the header (they were not read)",
                )
            )
        if self._long_count:
            self.add(
                Violation(
                    kind=ViolationKind.LONG_ROW,
                    count=self._long_count,
                    samples=self._long,
                    message="rows with more fields than the header (they were not read)",
                )
            )
        if self._empty_rows:
            self.add(
                Violation(
                    kind=ViolationKind.EMPTY_ROW,
                    count=self._empty_rows,
                    samples=self._empty_samples,
                    message="blank rows, with no value in any column",
                )
            )
        fatal = any(v.kind in _FATAL_BEFORE_ROWS for v in self.violations)
        if fatal:
            return
        contract = self.contract
        if self.rows == 0 and not self._short_count and not self._long_count:
            self.add(
                Violation(
                    kind=ViolationKind.NO_DATA_ROWS, count=1, message="the file has a header but no data rows"
                )
            )
        elif self.rows < contract.min_rows:
            self.add(
                Violation(
                    kind=ViolationKind.TOO_FEW_ROWS,
                    count=1,
                    message=f"{self.rows} rows, fewer than min_rows ({contract.min_rows})",
                )
            )
        if contract.max_rows is not None and self.rows > contract.max_rows:
            self.add(
                Violation(
                    kind=ViolationKind.TOO_MANY_ROWS,
                    count=1,
                    message=f"more than max_rows ({contract.max_rows}) rows",
                )
            )


_FATAL_BEFORE_ROWS = frozenset(
    {
        ViolationKind.EMPTY_FILE,
        ViolationKind.OBJECT_TOO_LARGE,
        ViolationKind.BINARY_CONTENT,
        ViolationKind.DECOMPRESSED_TOO_LARGE,
        ViolationKind.INVALID_ENCODING,
        ViolationKind.NUL_BYTE,
        ViolationKind.MALFORMED_FILE,
        ViolationKind.TOO_MANY_COLUMNS,
        ViolationKind.DUPLICATE_HEADER,
    }
)

# Column types a Parquet physical type may carry, checked by parquet_reader.
PARQUET_COMPATIBLE: dict[ColumnType, Callable[[pa.DataType], bool]] = {
    ColumnType.INTEGER: pa.types.is_integer,
    ColumnType.FLOAT: lambda t: pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t),
    ColumnType.BOOLEAN: pa.types.is_boolean,
    ColumnType.STRING: lambda t: (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type))
    ),
    ColumnType.CATEGORY: lambda t: (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_dictionary(t)
        or pa.types.is_integer(t)
    ),
    ColumnType.DATETIME: lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t),
}

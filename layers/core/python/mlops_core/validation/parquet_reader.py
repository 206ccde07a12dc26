"""Parquet input: the schema is checked from the footer, then rows are read batch by batch.

Parquet carries its own types, so a column stored with a type the contract cannot
accept is one violation for the whole column rather than one per value.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from mlops_core.validation.column_checks import ColumnChecker
from mlops_core.validation.guarded_stream import sniff_binary
from mlops_core.validation.report import Violation, ViolationKind

if TYPE_CHECKING:
    from mlops_core.validation.engine import Progress, _Run

_MAGIC = b"PAR1"


def read_parquet(run: _Run, path: Path, progress: Progress | None) -> None:
    from mlops_core.validation.engine import (  # noqa: PLC0415 - engine imports this module lazily
        PARQUET_BATCH_ROWS,
        PARQUET_COMPATIBLE,
        FatalViolation,
        check_columns,
        check_header_names,
    )

    run.source.sha256 = _sha256(path)
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(-4, 2)
        tail = handle.read(4)
    if head != _MAGIC or tail != _MAGIC:
        found = sniff_binary(head) or "text or an unknown format"
        raise FatalViolation(
            Violation(
                kind=ViolationKind.MALFORMED_FILE,
                count=1,
                message=f"the contract says parquet but the object holds {found} (no PAR1 magic bytes)",
            )
        )
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.MALFORMED_FILE, count=1, message=f"the Parquet file cannot be read: {exc}"
            )
        ) from exc
    contract = run.contract
    schema = parquet.schema_arrow
    names = list(schema.names)
    run.columns = names
    check_header_names(names, contract)
    total_rows = parquet.metadata.num_rows
    if contract.max_rows is not None and total_rows > contract.max_rows:
        run.rows = total_rows
        run.stopped_early = f"{total_rows} rows in the footer, over max_rows ({contract.max_rows}); not read"
        return
    checkable = []
    for spec in check_columns(run, names):
        stored = schema.field(spec.name).type
        if PARQUET_COMPATIBLE[spec.type](stored):
            checkable.append(spec)
            continue
        run.add(
            Violation(
                kind=ViolationKind.TYPE_MISMATCH,
                column=spec.name,
                count=max(total_rows, 1),
                message=f"stored as {stored}, but the contract says {spec.type.value}",
            )
        )
    checkers = [ColumnChecker(spec, contract.csv) for spec in checkable]
    run.checkers = checkers
    if not checkers:
        run.rows = total_rows
        return
    size = run.source.bytes
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[s.name for s in checkable]):
            run.check_batch(batch, checkers)
            if progress is not None and total_rows:
                progress(int(size * run.rows / total_rows), size)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FatalViolation(
            Violation(
                kind=ViolationKind.MALFORMED_FILE,
                count=1,
                message=f"the Parquet data cannot be read after row {run.rows}: {exc}",
            )
        ) from exc


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

"""The validation report: every violation kind with its count, columns and sample lines.

The report is what users read when an upload is quarantined, so it is a versioned
pydantic model saved as JSON next to the data (``reports/validation/<dataset>/<run>.json``).
Values of ``pii: true`` columns never appear in it: samples show them masked.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MASK = "***"
MAX_SAMPLES = 20


class ViolationKind(StrEnum):
    """What can be wrong with an uploaded file, from the bytes up to the contract."""

    # The object as a whole
    CONTRACT_MISSING = "contract_missing"
    CONTRACT_INVALID = "contract_invalid"
    OBJECT_MISSING = "object_missing"
    OBJECT_TOO_LARGE = "object_too_large"
    EMPTY_FILE = "empty_file"
    BINARY_CONTENT = "binary_content"
    DECOMPRESSED_TOO_LARGE = "decompressed_too_large"
    INVALID_ENCODING = "invalid_encoding"
    NUL_BYTE = "nul_byte"
    MALFORMED_FILE = "malformed_file"
    # The header
    TOO_MANY_COLUMNS = "too_many_columns"
    DUPLICATE_HEADER = "duplicate_header"
    MISSING_COLUMN = "missing_column"
    UNEXPECTED_COLUMN = "unexpected_column"
    # Rows
    SHORT_ROW = "short_row"
    LONG_ROW = "long_row"
    EMPTY_ROW = "empty_row"
    NO_DATA_ROWS = "no_data_rows"
    TOO_FEW_ROWS = "too_few_rows"
    TOO_MANY_ROWS = "too_many_rows"
    # Values
    TYPE_MISMATCH = "type_mismatch"
    NULL_VALUE = "null_value"
    NON_FINITE = "non_finite"
    BELOW_MIN = "below_min"
    ABOVE_MAX = "above_max"
    NOT_ALLOWED = "not_allowed"
    PATTERN_MISMATCH = "pattern_mismatch"
    TOO_LONG = "too_long"
    DUPLICATE_VALUE = "duplicate_value"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ViolationSample(_Model):
    line: int | None = Field(description="where the row is: see the report's line_numbers")
    value: str | None = Field(default=None, description="the offending value; masked for pii columns")
    detail: str | None = None


class Violation(_Model):
    kind: ViolationKind
    column: str | None = None
    count: int = Field(ge=1)
    message: str
    samples: list[ViolationSample] = Field(default_factory=list)


class SampleRow(_Model):
    line: int | None
    values: dict[str, str | None]


class SourceInfo(_Model):
    uri: str
    format: str
    bytes: int = Field(ge=0, description="size of the object as stored")
    sha256: str | None = Field(default=None, description="SHA-256 of the object as stored, when read whole")
    version_id: str | None = None
    etag: str | None = None


class ValidationReport(_Model):
    schema_version: Literal["1"] = "1"
    dataset: str
    contract_version: int | None = None
    contract_sha256: str | None = None
    source: SourceInfo
    valid: bool
    rows: int = Field(ge=0, description="data rows read (header excluded)")
    columns: list[str] = Field(default_factory=list, description="columns found in the header")
    violations: list[Violation] = Field(default_factory=list)
    sample_rows: list[SampleRow] = Field(default_factory=list)
    line_numbers: Literal["line", "row"] = Field(
        default="line",
        description="line: the line in the CSV file (1 = header); row: the 1-based data row (Parquet)",
    )
    stopped_early: str | None = Field(
        default=None, description="why reading stopped before the end of the file, if it did"
    )
    started_at: datetime
    finished_at: datetime
    seconds: float = Field(ge=0)
    engine: dict[str, str] = Field(default_factory=dict)

    @property
    def violation_count(self) -> int:
        return sum(v.count for v in self.violations)

    def counts_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for violation in self.violations:
            counts[violation.kind.value] = counts.get(violation.kind.value, 0) + violation.count
        return counts

    @property
    def mb_per_second(self) -> float:
        return self.source.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

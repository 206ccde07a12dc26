"""Data contracts: the YAML file that says what a dataset must look like.

One contract per dataset (``contracts/<dataset>.yaml`` in the data bucket). The same
contract drives upload validation, and later the model's input signature, the predict
request check and the drift check. A broken contract is a :class:`ContractError` whose
messages name the field (``columns[plan].allowed``) and the fix.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

DatasetName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", strip_whitespace=True)]

#: Upper bound for every contract, whatever it says: a header wider than this is refused
#: after reading only the header line.
HARD_MAX_COLUMNS = 10_000


class ColumnType(StrEnum):
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    STRING = "string"
    CATEGORY = "category"
    DATETIME = "datetime"


class ColumnRole(StrEnum):
    FEATURE = "feature"
    TARGET = "target"
    ID = "id"
    TIMESTAMP = "timestamp"


class DataFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class ExtraColumns(StrEnum):
    REJECT = "reject"
    IGNORE = "ignore"


NUMERIC_TYPES = frozenset({ColumnType.INTEGER, ColumnType.FLOAT})
TEXT_TYPES = frozenset({ColumnType.STRING, ColumnType.CATEGORY})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class ColumnSpec(_Strict):
    """One column: its type, role and the rules every value must follow."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    type: ColumnType
    role: ColumnRole = ColumnRole.FEATURE
    nullable: bool = False
    unique: bool = False
    pii: bool = False
    description: str | None = None
    min: int | float | str | None = Field(default=None, description="numbers, or ISO 8601 for datetime")
    max: int | float | str | None = None
    allowed: list[str | int | float | bool] | None = None
    pattern: str | None = Field(default=None, description="a regular expression every value must match")
    max_length: Annotated[int, Field(gt=0)] | None = None

    @field_validator("min", "max", mode="before")
    @classmethod
    def _dates_as_iso(cls, value: Any) -> Any:
        # YAML reads an unquoted 2024-01-31 as a date; keep it as the ISO text the user wrote.
        if isinstance(value, date | datetime):
            return value.isoformat()
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern {value!r} does not compile: {exc}") from exc
        return value

    @field_validator("allowed")
    @classmethod
    def _allowed_not_empty(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and not value:
            raise ValueError("allowed must list at least one value (or be left out)")
        return value

    @model_validator(mode="after")
    def _rules_fit_type(self) -> ColumnSpec:
        if self.min is not None or self.max is not None:
            if self.type in NUMERIC_TYPES:
                for bound in ("min", "max"):
                    _check_number_bound(bound, getattr(self, bound), self.type)
            elif self.type is ColumnType.DATETIME:
                for bound in ("min", "max"):
                    value = getattr(self, bound)
                    if value is not None and not _is_iso_datetime(str(value)):
                        raise ValueError(
                            f"{bound} must be an ISO 8601 date or time (e.g. 2024-01-31) "
                            f"for a datetime column, got {value!r}"
                        )
            else:
                raise ValueError(f"min/max apply to integer, float and datetime columns, not {self.type}")
            if self.min is not None and self.max is not None and _bound(self.min) > _bound(self.max):
                raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.type not in TEXT_TYPES:
            for rule in ("pattern", "max_length"):
                if getattr(self, rule) is not None:
                    raise ValueError(f"{rule} applies to string and category columns, not {self.type}")
        if self.type in (ColumnType.BOOLEAN, ColumnType.DATETIME) and self.allowed is not None:
            raise ValueError(
                f"allowed applies to string, category, integer and float columns, not {self.type}"
            )
        if self.type in NUMERIC_TYPES and self.allowed is not None:
            for value in self.allowed:
                if _finite_number(value) is None:
                    raise ValueError(
                        f"allowed values of {self.type} columns are finite numbers; {value!r} is not one"
                    )
        if self.role is ColumnRole.TIMESTAMP and self.type is not ColumnType.DATETIME:
            raise ValueError("a column with role timestamp must have type datetime")
        return self

    @property
    def allowed_text(self) -> list[str] | None:
        """Allowed values as they appear in a CSV file."""
        if self.allowed is None:
            return None
        return [_as_text(v) for v in self.allowed]


class CsvOptions(_Strict):
    """How CSV files of this dataset are written."""

    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ","
    quote_char: Annotated[str, StringConstraints(min_length=1, max_length=1)] = '"'
    null_values: list[str] = Field(default_factory=lambda: [""])
    true_values: list[str] = Field(default_factory=lambda: ["true", "True", "TRUE", "1"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "False", "FALSE", "0"])

    @field_validator("delimiter", "quote_char")
    @classmethod
    def _one_byte(cls, value: str) -> str:
        # The CSV reader splits bytes, not characters: a separator is one ASCII byte.
        if value != "\t" and not " " <= value <= "~":
            raise ValueError(f"must be one printable ASCII character or a tab, got {value!r}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> CsvOptions:
        if self.delimiter == self.quote_char:
            raise ValueError(f"delimiter and quote_char are both {self.delimiter!r}; they must differ")
        return self


class DataContract(_Strict):
    """What every file uploaded under ``incoming/<dataset>/`` must satisfy."""

    dataset: DatasetName
    version: Annotated[int, Field(ge=1)] = 1
    description: str | None = None
    format: DataFormat = DataFormat.CSV
    max_bytes: Annotated[int, Field(gt=0)] = 1_073_741_824
    min_rows: Annotated[int, Field(ge=0)] = 1
    max_rows: Annotated[int, Field(gt=0)] | None = None
    max_columns: Annotated[int, Field(gt=0, le=HARD_MAX_COLUMNS)] = 1_000
    extra_columns: ExtraColumns = ExtraColumns.REJECT
    csv: CsvOptions = Field(default_factory=CsvOptions)
    columns: Annotated[list[ColumnSpec], Field(min_length=1)]
    # Typed by the training and drift features; kept as mappings until then so that a
    # contract written for them already loads.
    training: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None

    # Each check across keys is a validator of the later key, so its error names that key.
    @field_validator("max_rows")
    @classmethod
    def _rows_in_order(cls, max_rows: int | None, info: ValidationInfo) -> int | None:
        min_rows = info.data.get("min_rows")
        if max_rows is not None and min_rows is not None and min_rows > max_rows:
            raise ValueError(f"min_rows ({min_rows}) is greater than max_rows ({max_rows})")
        return max_rows

    @field_validator("columns")
    @classmethod
    def _columns_consistent(cls, columns: list[ColumnSpec], info: ValidationInfo) -> list[ColumnSpec]:
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise ValueError(f"column {column.name!r} is declared twice")
            seen.add(column.name)
        max_columns = info.data.get("max_columns")
        if max_columns is not None and len(columns) > max_columns:
            raise ValueError(f"the contract declares {len(columns)} columns but max_columns is {max_columns}")
        targets = [c.name for c in columns if c.role is ColumnRole.TARGET]
        if len(targets) > 1:
            raise ValueError(f"at most one column may have role target, found {targets}")
        return columns

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def pii_columns(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.pii)

    def fingerprint(self) -> str:
        """SHA-256 of the contract's canonical JSON: what a report or a model was checked against."""
        canonical = self.model_dump_json(exclude_none=False).encode()
        return hashlib.sha256(canonical).hexdigest()


class ContractFieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    message: str


class ContractError(ValueError):
    """A contract that cannot be used; each entry names the field at fault."""

    def __init__(self, source: str, errors: list[ContractFieldError]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  - {e.field}: {e.message}" for e in errors)
        super().__init__(f"invalid data contract {source}:\n{lines}")


#: Where a dataset's contract lives in the data bucket: ``contracts/<dataset>.yaml``.
CONTRACTS_PREFIX = "contracts"


def contract_key(dataset: str) -> str:
    return f"{CONTRACTS_PREFIX}/{dataset}.yaml"


def load_contract(text: str | bytes, source: str = "<contract>") -> DataContract:
    """Parse a contract from YAML text, or raise :class:`ContractError`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        raise ContractError(
            source, [ContractFieldError(field=where, message=f"not valid YAML: {exc}")]
        ) from exc
    if not isinstance(document, dict):
        raise ContractError(
            source,
            [
                ContractFieldError(
                    field="(document)", message="a contract is a YAML mapping with dataset and columns"
                )
            ],
        )
    return contract_from_mapping(document, source)


def contract_from_mapping(document: dict[str, Any], source: str = "<contract>") -> DataContract:
    try:
        return DataContract.model_validate(document)
    except ValidationError as exc:
        raise ContractError(source, _field_errors(exc, document)) from exc


def _field_errors(exc: ValidationError, document: dict[str, Any]) -> list[ContractFieldError]:
    errors: list[ContractFieldError] = []
    declared = document.get("columns")
    columns: list[Any] = declared if isinstance(declared, list) else []
    for error in exc.errors(include_url=False):
        errors.append(ContractFieldError(field=_field_path(error["loc"], columns), message=_message(error)))
    return errors


def _field_path(loc: tuple[int | str, ...], columns: list[Any]) -> str:
    parts: list[str] = []
    index = 0
    while index < len(loc):
        part = loc[index]
        if part == "columns" and index + 1 < len(loc) and isinstance(loc[index + 1], int):
            position = int(loc[index + 1])
            entry = columns[position] if position < len(columns) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            parts.append(f"columns[{name}]" if isinstance(name, str) else f"columns[{position}]")
            index += 2
            continue
        # pydantic adds the union member ("float", "str") or validator tag to a location.
        if isinstance(part, str) and part in _UNION_MEMBERS:
            index += 1
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
        index += 1
    text = ".".join(parts).replace(".[", "[")
    return text or "(document)"


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; check its spelling against docs/contracts.md"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{error['input']!r} is not one of {expected}"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


_UNION_MEMBERS = frozenset({"float", "str", "int", "bool", "date", "datetime"})

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _is_iso_datetime(text: str) -> bool:
    if not _ISO.match(text):
        return False
    try:  # the shape is right; the date must exist too (no 2024-13-01, no 2024-02-30)
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


#: The range of an integer column's values (64-bit, as the validation engine reads them).
INT64_RANGE = (-(2**63), 2**63 - 1)


def _check_number_bound(name: str, value: int | float | str | None, kind: ColumnType) -> None:
    if value is None:
        return
    if isinstance(value, str) or _finite_number(value) is None:
        raise ValueError(f"{name} must be a finite number for {kind} columns, got {value!r}")
    low, high = INT64_RANGE
    if kind is ColumnType.INTEGER and not low <= value <= high:
        raise ValueError(f"{name} of integer columns must lie within 64-bit integers, got {value!r}")


def _finite_number(value: object) -> float | None:
    """The value as a finite float, or None: text, booleans, NaN and infinities are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _bound(value: int | float | str) -> float:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace(" ", "T")).timestamp()
    return value


def _as_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

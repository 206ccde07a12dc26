"""The contract's rules for one column, applied batch by batch on Arrow arrays.

A :class:`ColumnChecker` turns a column's text (CSV) or typed values (Parquet) into typed
values, then counts nulls, type mismatches, non-finite numbers, range, allowed-value,
pattern and length violations with vectorised Arrow kernels. Uniqueness is checked
across batches by :class:`UniqueTracker`, in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_core.contracts import ColumnSpec, ColumnType, CsvOptions
from mlops_core.validation.report import MASK, MAX_SAMPLES, Violation, ViolationKind, ViolationSample
from mlops_core.validation.uniqueness import UniqueTracker

_INTEGER_TEXT = r"^[+-]?[0-9]+$"
_FLOAT_TEXT = (
    r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?([Ii]nf(inity)?|INF(INITY)?|[Nn]a[Nn]|NAN)$"
)
_ISO_TEXT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)

LineOf = Callable[[int], int | None]
"""Maps a batch-relative row index to its line number in the file."""


@dataclass
class _Tally:
    kind: ViolationKind
    message: str
    count: int = 0
    samples: list[ViolationSample] = field(default_factory=list)


@dataclass
class BatchFindings:
    """Rows of one batch that broke a rule, for the report's sample rows."""

    bad_rows: list[int] = field(default_factory=list)


class ColumnChecker:
    """Accumulates every violation of one column over all batches of a file."""

    def __init__(self, spec: ColumnSpec, csv: CsvOptions) -> None:
        self.spec = spec
        self._csv = csv
        self._tallies: dict[ViolationKind, _Tally] = {}
        self._unique = UniqueTracker() if spec.unique else None
        self._bounds: dict[tuple[str, str], pa.Scalar] = {}
        self._allowed_text = pa.array(spec.allowed_text, pa.string()) if spec.allowed is not None else None
        self._bool_text = pa.array(csv.true_values + csv.false_values, pa.string())
        self._typed_allowed: pa.Array | None = None
        if spec.allowed is not None and spec.type in (ColumnType.INTEGER, ColumnType.FLOAT):
            self._typed_allowed = pa.array([float(v) for v in spec.allowed], pa.float64())

    # -- entry points --------------------------------------------------------------------
    def check_text(self, values: pa.Array, first_row: int, line_of: LineOf, findings: BatchFindings) -> None:
        """A batch of CSV text (nulls already applied from the contract's null_values)."""
        valid = pc.is_valid(values)
        self._nulls(values, line_of, findings)
        typed, mismatched = self._convert(values, valid)
        if mismatched is not None:
            self._flag(
                ViolationKind.TYPE_MISMATCH,
                mismatched,
                values,
                line_of=line_of,
                findings=findings,
                message=f"values that are not {self._type_phrase()}",
            )
        self._rules(typed, values, first_row, line_of, findings)

    def check_typed(self, values: pa.Array, first_row: int, line_of: LineOf, findings: BatchFindings) -> None:
        """A batch of typed values (Parquet), already of a type compatible with the contract."""
        self._nulls(values, line_of, findings)
        typed = self._normalise_typed(values)
        shown = typed if self.spec.type not in (ColumnType.DATETIME,) else pc.cast(typed, pa.string())
        self._rules(typed, shown, first_row, line_of, findings)

    def finish(self, line_of_row: Callable[[int], int | None]) -> list[Violation]:
        """Resolve uniqueness across all batches and return this column's violations."""
        if self._unique is not None:
            self._resolve_duplicates(self._unique, line_of_row)
        return [
            Violation(kind=t.kind, column=self.spec.name, count=t.count, message=t.message, samples=t.samples)
            for t in self._tallies.values()
            if t.count
        ]

    # -- rules ----------------------------------------------------------------------------
    def _nulls(self, values: pa.Array, line_of: LineOf, findings: BatchFindings) -> None:
        if self.spec.nullable or values.null_count == 0:
            return
        self._flag(
            ViolationKind.NULL_VALUE,
            pc.is_null(values),
            values,
            line_of=line_of,
            findings=findings,
            message="empty values in a column that is not nullable",
        )

    def _rules(
        self, typed: pa.Array, shown: pa.Array, first_row: int, line_of: LineOf, findings: BatchFindings
    ) -> None:
        spec = self.spec
        if spec.type is ColumnType.FLOAT and not pc.all(pc.is_finite(typed)).as_py():
            finite = pc.is_finite(typed)
            self._flag(
                ViolationKind.NON_FINITE,
                pc.invert(finite),
                shown,
                line_of=line_of,
                findings=findings,
                message="inf, -inf or NaN where a finite number is required",
            )
            # Already named: keep them out of the range and allowed-value checks.
            typed = pc.if_else(finite, typed, pa.scalar(None, typed.type))
        if spec.min is not None or spec.max is not None:
            self._range(typed, shown, line_of, findings)
        if spec.allowed is not None:
            value_set = self._typed_allowed if self._typed_allowed is not None else self._allowed_text
            probe = pc.cast(typed, pa.float64()) if self._typed_allowed is not None else typed
            inside = pc.is_in(probe, value_set=value_set)
            if (pc.sum(inside).as_py() or 0) < len(probe) - probe.null_count:
                outside = pc.and_(pc.is_valid(probe), pc.invert(inside))
                self._flag(
                    ViolationKind.NOT_ALLOWED,
                    outside,
                    shown,
                    line_of=line_of,
                    findings=findings,
                    message=f"values outside allowed {spec.allowed_text}",
                )
        if spec.pattern is not None:
            matched = pc.match_substring_regex(typed, spec.pattern)
            mismatch = pc.invert(matched)
            if pc.any(mismatch).as_py():
                self._flag(
                    ViolationKind.PATTERN_MISMATCH,
                    mismatch,
                    shown,
                    line_of=line_of,
                    findings=findings,
                    message=f"values that do not match the pattern {spec.pattern}",
                )
        # Characters never outnumber bytes: count characters only when some value has more bytes.
        if spec.max_length is not None and (pc.max(pc.binary_length(typed)).as_py() or 0) > spec.max_length:
            too_long = pc.greater(pc.utf8_length(typed), spec.max_length)
            if pc.any(too_long).as_py():
                self._flag(
                    ViolationKind.TOO_LONG,
                    too_long,
                    shown,
                    line_of=line_of,
                    findings=findings,
                    message=f"values longer than max_length {spec.max_length}",
                )
        if spec.unique:
            self._collect_fingerprints(typed, first_row)

    def _range(self, typed: pa.Array, shown: pa.Array, line_of: LineOf, findings: BatchFindings) -> None:
        """One min/max pass per batch; the per-value comparison runs only when a bound is broken."""
        extremes = pc.min_max(typed)
        if not extremes["min"].is_valid:
            return
        rules = (
            (self.spec.min, extremes["min"], pc.less, ViolationKind.BELOW_MIN, "below min"),
            (self.spec.max, extremes["max"], pc.greater, ViolationKind.ABOVE_MAX, "above max"),
        )
        for limit, extreme, beyond, kind, phrase in rules:
            if limit is None:
                continue
            bound = self._bound(limit, typed.type)
            if beyond(extreme, bound).as_py():
                self._flag(
                    kind,
                    beyond(typed, bound),
                    shown,
                    line_of=line_of,
                    findings=findings,
                    message=f"values {phrase} {limit}",
                )

    # -- conversion -----------------------------------------------------------------------
    def _convert(self, text: pa.Array, valid: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        """Typed values (null where not convertible) and the mask of non-convertible ones."""
        kind = self.spec.type
        if kind in (ColumnType.STRING, ColumnType.CATEGORY):
            return text, None
        if kind is ColumnType.BOOLEAN:
            ok = pc.is_in(text, value_set=self._bool_text)
            typed = pc.is_in(text, value_set=pa.array(self._csv.true_values, pa.string()))
            return self._mask_invalid(typed, ok, valid)
        target = {
            ColumnType.INTEGER: pa.int64(),
            ColumnType.FLOAT: pa.float64(),
            ColumnType.DATETIME: pa.timestamp("us"),
        }[kind]
        try:
            # Fast path: a clean batch converts in one kernel call.
            return pc.cast(text, target), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        if kind is ColumnType.DATETIME:
            return self._convert_datetimes(text, valid)
        shape = _INTEGER_TEXT if kind is ColumnType.INTEGER else _FLOAT_TEXT
        ok = pc.match_substring_regex(text, shape)
        kept = pc.if_else(ok, text, pa.scalar(None, pa.string()))
        try:
            typed = pc.cast(kept, target)
        except pa.ArrowInvalid:
            # Integers outside int64: convert one by one and treat overflow as a mismatch.
            typed, ok = _convert_one_by_one(kept, ok, target)
        return self._mask_invalid(typed, ok, valid)

    def _convert_datetimes(self, text: pa.Array, valid: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        ok = pc.match_substring_regex(text, _ISO_TEXT)
        kept = pc.if_else(ok, text, pa.scalar(None, pa.string()))
        return _datetimes_one_by_one(kept, ok, valid)

    @staticmethod
    def _mask_invalid(typed: pa.Array, ok: pa.Array, valid: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        mismatched = pc.and_(valid, pc.invert(ok))
        if not pc.any(mismatched).as_py():
            return typed, None
        return pc.if_else(ok, typed, pa.scalar(None, typed.type)), mismatched

    def _normalise_typed(self, values: pa.Array) -> pa.Array:
        kind = self.spec.type
        if kind is ColumnType.FLOAT:
            return pc.cast(values, pa.float64())
        if kind is ColumnType.INTEGER:
            return pc.cast(values, pa.int64())
        if kind in (ColumnType.STRING, ColumnType.CATEGORY):
            return pc.cast(values, pa.string())
        if kind is ColumnType.DATETIME:
            if pa.types.is_timestamp(values.type) and values.type.tz is not None:
                return pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), pa.timestamp("us"))
            return pc.cast(values, pa.timestamp("us"))
        return values

    def _bound(self, bound: int | float | str, arrow_type: pa.DataType) -> pa.Scalar:
        key = (str(bound), str(arrow_type))
        cached = self._bounds.get(key)
        if cached is None:
            cached = self._bounds[key] = self._make_bound(bound, arrow_type)
        return cached

    def _make_bound(self, bound: int | float | str, arrow_type: pa.DataType) -> pa.Scalar:
        if self.spec.type is ColumnType.DATETIME:
            moment = datetime.fromisoformat(str(bound).replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            return pa.scalar(moment, pa.timestamp("us"))
        return (
            pa.scalar(float(bound), pa.float64())
            if pa.types.is_floating(arrow_type)
            else pa.scalar(bound if isinstance(bound, int) else float(bound))
        )

    def _type_phrase(self) -> str:
        return {
            ColumnType.INTEGER: "integers",
            ColumnType.FLOAT: "numbers",
            ColumnType.BOOLEAN: f"booleans ({', '.join(self._csv.true_values + self._csv.false_values)})",
            ColumnType.DATETIME: "ISO 8601 dates or times",
        }.get(self.spec.type, str(self.spec.type))

    # -- bookkeeping ----------------------------------------------------------------------
    def _flag(
        self,
        kind: ViolationKind,
        mask: pa.Array,
        shown: pa.Array,
        *,
        line_of: LineOf,
        findings: BatchFindings,
        message: str,
    ) -> None:
        mask = pc.fill_null(mask, False)
        count = pc.sum(mask).as_py() or 0
        if not count:
            return
        tally = self._tallies.setdefault(kind, _Tally(kind=kind, message=message))
        tally.count += count
        room = MAX_SAMPLES - len(tally.samples)
        rows = pc.indices_nonzero(mask)[: max(room, MAX_SAMPLES)].to_pylist()
        findings.bad_rows.extend(rows[:MAX_SAMPLES])
        for row in rows[: max(room, 0)]:
            tally.samples.append(ViolationSample(line=line_of(row), value=self._show(shown[row].as_py())))

    def _show(self, value: object) -> str | None:
        if value is None:
            return None
        return MASK if self.spec.pii else str(value)

    def _collect_fingerprints(self, typed: pa.Array, first_row: int) -> None:
        assert self._unique is not None
        present = pc.is_valid(typed)
        rows = np.asarray(pc.indices_nonzero(present).to_numpy(), dtype=np.uint32) + np.uint32(first_row)
        self._unique.add(typed.filter(present), rows)

    def _resolve_duplicates(self, tracker: UniqueTracker, line_of_row: Callable[[int], int | None]) -> None:
        count, repeats = tracker.duplicates(MAX_SAMPLES)
        if not count:
            return
        tally = self._tallies.setdefault(
            ViolationKind.DUPLICATE_VALUE,
            _Tally(ViolationKind.DUPLICATE_VALUE, "values that repeat an earlier row's value (unique: true)"),
        )
        tally.count += count
        for repeat in repeats:
            tally.samples.append(
                ViolationSample(
                    line=line_of_row(repeat.row), detail=f"same value as line {line_of_row(repeat.first_row)}"
                )
            )


def _convert_one_by_one(kept: pa.Array, ok: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
    results: list[object] = []
    flags: list[bool] = []
    for value, shape_ok in zip(kept.to_pylist(), ok.to_pylist(), strict=True):
        if value is None or not shape_ok:
            results.append(None)
            flags.append(bool(shape_ok) and value is not None)
            continue
        try:
            number = int(value)
            if not -(2**63) <= number < 2**63:
                raise OverflowError
            results.append(number)
            flags.append(True)
        except (ValueError, OverflowError):
            results.append(None)
            flags.append(False)
    return pa.array(results, target), pa.array(flags, pa.bool_())


def _datetimes_one_by_one(kept: pa.Array, ok: pa.Array, valid: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    results: list[datetime | None] = []
    flags: list[bool] = []
    for value, shape_ok in zip(kept.to_pylist(), ok.to_pylist(), strict=True):
        if value is None or not shape_ok:
            results.append(None)
            flags.append(False)
            continue
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            results.append(None)
            flags.append(False)
            continue
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        results.append(moment)
        flags.append(True)
    typed = pa.array(results, pa.timestamp("us"))
    ok_mask = pa.array(flags, pa.bool_())
    mismatched = pc.and_(valid, pc.invert(ok_mask))
    if not pc.any(mismatched).as_py():
        return typed, None
    return typed, mismatched

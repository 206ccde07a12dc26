"""Terminal views of reports and contracts: readable tables, never raw JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_core.contracts import DataContract
from mlops_core.validation import ValidationReport

#: Sample lines shown per violation on the terminal; the JSON report keeps up to 20.
SAMPLES_SHOWN = 3


def render_report(console: Console, report: ValidationReport, name: str) -> None:
    verdict = "[bold green]VALID[/]" if report.valid else "[bold red]INVALID[/]"
    size_mb = report.source.bytes / 1e6
    console.print(
        f"{verdict} {escape(name)}: {report.rows} rows, {size_mb:.2f} MB in {report.seconds:.2f} s"
        + (f" ({report.mb_per_second:.0f} MB/s)" if report.source.bytes > 10_000_000 else "")
    )
    if report.stopped_early:
        console.print(f"  [yellow]stopped early:[/] {escape(report.stopped_early)}")
    if report.valid:
        return
    where = "line" if report.line_numbers == "line" else "row"
    table = Table(show_header=True, header_style="bold", expand=False, pad_edge=False)
    table.add_column("violation")
    table.add_column("column")
    table.add_column("count", justify="right")
    table.add_column(f"sample {where}s")
    table.add_column("what to fix", overflow="fold", max_width=70)
    for violation in report.violations:
        samples = ", ".join(
            _sample_text(s.line, s.value, s.detail) for s in violation.samples[:SAMPLES_SHOWN]
        )
        more = len(violation.samples) - SAMPLES_SHOWN
        if more > 0:
            samples += f" (+{more})"
        table.add_row(
            violation.kind.value,
            escape(violation.column or "-"),
            str(violation.count),
            escape(samples or "-"),
            escape(violation.message),
        )
    console.print(table)


def _sample_text(line: int | None, value: str | None, detail: str | None) -> str:
    text = str(line) if line is not None else "?"
    if value is not None:
        shown = value if len(value) <= 24 else value[:21] + "..."
        text += f" {shown!r}"
    elif detail:
        text += f" ({detail})"
    return text


def render_summary_table(console: Console, results: Sequence[tuple[str, ValidationReport, Path]]) -> None:
    table = Table(title="data gate: where everything went", header_style="bold")
    table.add_column("file")
    table.add_column("verdict")
    table.add_column("rows", justify="right")
    table.add_column("violations", justify="right")
    table.add_column("report")
    for name, report, report_path in results:
        table.add_row(
            escape(name),
            "[green]validated[/]" if report.valid else "[red]quarantined[/]",
            str(report.rows),
            str(report.violation_count),
            escape(str(report_path)),
        )
    console.print(table)


def render_contract(console: Console, contract: DataContract) -> None:
    console.print(
        f"[bold]{contract.dataset}[/] v{contract.version} ({contract.format.value}): "
        f"{contract.min_rows}..{contract.max_rows or 'any'} rows, at most {contract.max_bytes} bytes, "
        f"extra columns: {contract.extra_columns.value}"
    )
    table = Table(header_style="bold")
    for heading in ("column", "type", "role", "nullable", "rules"):
        table.add_column(heading)
    for column in contract.columns:
        rules = []
        if column.min is not None or column.max is not None:
            rules.append(
                f"range [{column.min if column.min is not None else ''}, "
                f"{column.max if column.max is not None else ''}]"
            )
        if column.allowed is not None:
            rules.append(f"one of {column.allowed_text}")
        if column.pattern is not None:
            rules.append(f"pattern {column.pattern}")
        if column.max_length is not None:
            rules.append(f"max_length {column.max_length}")
        if column.unique:
            rules.append("unique")
        if column.pii:
            rules.append("pii (masked)")
        table.add_row(
            escape(column.name),
            column.type.value,
            column.role.value,
            "yes" if column.nullable else "no",
            escape("; ".join(rules)),
        )
    console.print(table)

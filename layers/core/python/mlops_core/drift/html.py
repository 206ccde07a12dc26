"""A drift report as one self-contained HTML page: the verdict, the features, their histograms.

The page has no external CSS, script, font or image and makes no request: the style is
inline and every picture is inline SVG, so it opens offline and can be stored and mailed
next to the JSON report. It is drawn from the report alone
(``DriftReport.model_validate_json`` of ``reports/drift/<model>/<run>.json``); every text
taken from the report is escaped. Needs the standard library and pydantic only.

``render_html(report, importance)`` draws a stored report; a local check's
``WindowComparison`` goes through ``comparison_report`` first, so there is one renderer.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise

from mlops_core.drift.compare import DEFAULT_DRIFT_SHARE, FeatureDrift, Histogram, WindowComparison
from mlops_core.drift_check import DriftReport
from mlops_core.training.baseline import DriftBaseline

#: Colours of the verdicts (text on a light background of the same hue).
STATUS_COLOURS = {
    "ok": ("#1a7f37", "#dafbe1"),
    "drift": ("#cf222e", "#ffebe9"),
    "insufficient_data": ("#9a6700", "#fff8c5"),
    "skipped": ("#57606a", "#eaeef2"),
}
BASELINE_COLOUR = "#8c959f"
WINDOW_COLOUR = "#fb8500"

# Histogram geometry, in SVG user units.
SVG_WIDTH = 720
SVG_HEIGHT = 270
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 52, 12, 34, 80
#: Share of a cell's width given to the baseline's bar and to the window's (drawn over it).
BASELINE_BAR, WINDOW_BAR = 0.84, 0.46
#: Longest category label drawn under a bar; the full text is in the bar's tooltip.
LABEL_CHARS = 16
#: Width of an axis label's character, and how far left a label slanted by 35 degrees reaches.
CHAR_WIDTH, SLANT_COS = 7.0, 0.82

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
  color:#1f2328;background:#f6f8fa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px}h3{font-size:1.05em;margin:0}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0}
.meta dt{color:#57606a}.meta dd{margin:0}
.verdict{border-radius:8px;padding:14px 18px;margin:16px 0;border-left:8px solid}
.verdict .status{font-size:1.4em;font-weight:700;text-transform:uppercase;letter-spacing:.03em}
.verdict p{margin:4px 0}
.runs span{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:3px;
  vertical-align:middle;border:1px solid #57606a}
.runs .d{background:#cf222e}.runs .s{background:#fff}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}
th,td{padding:6px 8px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
th{background:#eaeef2}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td{background:#ffebe9}tr.drifted td:first-child{box-shadow:inset 4px 0 #cf222e}
tr.skipped td{color:#57606a}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.85em;font-weight:600}
.badge.drifted{background:#cf222e;color:#fff}.badge.stable{background:#dafbe1;color:#1a7f37}
.badge.skipped{background:#eaeef2;color:#57606a}
figure{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:12px 0;padding:12px}
figure.drifted{border-color:#cf222e}
figcaption{font-size:.88em;color:#57606a;margin-top:4px}
figure header{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
svg{max-width:100%;height:auto;display:block}
svg text{font-family:inherit;font-size:11px;fill:#57606a}
svg .legend text{fill:#1f2328;font-size:12px}
.note{color:#57606a;font-size:.9em}
"""


def comparison_report(
    comparison: WindowComparison,
    baseline: DriftBaseline,
    *,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    model: str | None = None,
    version: int | None = None,
    run_id: str = "local",
    checked_at: datetime | None = None,
) -> DriftReport:
    """A local check's result as a report: status by ``comparison.verdict(drift_share)``.

    The model is named after the baseline's dataset unless ``model`` is given. A local check
    has no capture window and no K-of-N history, so ``window`` is empty and nothing is
    confirmed.
    """
    verdict = comparison.verdict(drift_share)
    return DriftReport(
        model=model or baseline.dataset,
        version=version,
        dataset=baseline.dataset,
        run_id=run_id,
        checked_at=checked_at or datetime.now(UTC),
        status=verdict,
        reason=(
            "no feature had enough non-null values to be tested" if verdict == "insufficient_data" else None
        ),
        drift_share=comparison.drift_share if verdict != "insufficient_data" else None,
        drift_share_threshold=drift_share,
        dataset_drift=verdict == "drift",
        drifted_features=comparison.drifted,
        features={f.feature: f for f in comparison.features},
        prediction=comparison.prediction,
        unknown_features=comparison.unknown_features,
    )


def render_html(
    report: DriftReport, importance: Mapping[str, float] | None = None, *, source: str | None = None
) -> str:
    """The whole page. ``importance`` (feature -> the model's importance) orders the features;
    by default, the report's own.

    ``source`` says where the window came from when the report has none (a local check).
    """
    title = f"Drift report: {report.model}" + (f" v{report.version}" if report.version is not None else "")
    if importance is None:
        importance = report.importance or None  # the scheduled check reads it from the manifest
    features = _ordered(list(report.features.values()), importance)
    tested = [f for f in features if f.status != "skipped"]
    skipped = [f for f in features if f.status == "skipped"]
    anchors = {f.feature: f"feature-{i}" for i, f in enumerate(features)}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
        _meta(report, source),
        _verdict(report),
        '<section id="features">',
        "<h2>Features</h2>",
        _table(features, importance, anchors),
        "</section>",
    ]
    if tested:
        parts += [
            '<section id="histograms">',
            "<h2>Distributions: baseline against the window</h2>",
            *(_figure(f, anchors[f.feature]) for f in tested),
            "</section>",
        ]
    if report.prediction is not None:
        parts += [
            '<section id="prediction">',
            "<h2>Predictions against the training target</h2>",
            '<p class="note">Reported apart: prediction drift does not count in the drift share.</p>',
            _figure(report.prediction, "prediction-figure")
            if report.prediction.status != "skipped"
            else f"<p>{_e(report.prediction.feature)}: skipped, {_e(report.prediction.reason or '')}</p>",
            "</section>",
        ]
    if skipped:
        parts += [
            '<section id="skipped">',
            "<h2>Skipped features</h2>",
            "<ul>",
            *(
                f'<li id="{anchors[f.feature]}"><strong>{_e(f.feature)}</strong>: '
                f"{_e(f.reason or 'no reason recorded')}</li>"
                for f in skipped
            ),
            "</ul>",
            "</section>",
        ]
    if report.unknown_features:
        parts += [
            '<section id="unknown">',
            "<h2>Fields the baseline does not have</h2>",
            f"<p>{_e(', '.join(report.unknown_features))}</p>",
            "</section>",
        ]
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


# --- header and verdict -------------------------------------------------------------------------


def _meta(report: DriftReport, source: str | None) -> str:
    rows = [
        ("model", report.model),
        ("version", f"v{report.version}" if report.version is not None else "-"),
        ("dataset", report.dataset or "unknown"),
        ("run id", report.run_id),
        ("checked at", report.checked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("window", _window(report, source)),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<dl class="meta">{items}</dl>'


def _window(report: DriftReport, source: str | None) -> str:
    window = report.window
    if window is None:
        return source or "none read"
    days = (window.end - window.start).days + 1
    text = (
        f"{window.start} to {window.end} ({days} day{'s' if days != 1 else ''}): "
        f"{window.records} records in {window.files} file{'s' if window.files != 1 else ''}, "
        f"{window.instances} instances compared"
    )
    if window.sampled:
        text += " (sampled down)"
    if window.malformed:
        text += f", {window.malformed} malformed lines skipped"
    if window.unreadable_files:
        count = len(window.unreadable_files)
        text += f", {count} damaged file{'s' if count != 1 else ''} read up to the damage"
    return text


def _verdict(report: DriftReport) -> str:
    fg, bg = STATUS_COLOURS[report.status]
    lines = []
    tested = sum(1 for f in report.features.values() if f.status != "skipped")
    if report.drift_share is not None:
        threshold = report.drift_share_threshold
        lines.append(
            f"Drift share {_percent(report.drift_share)} ({len(report.drifted_features)} of {tested} "
            "tested features drifted)"
            + (f", threshold {_percent(threshold)}" if threshold is not None else "")
            + (": the run drifts" if report.dataset_drift else ": the run does not drift")
        )
    if report.drifted_features:
        lines.append("Drifted: " + ", ".join(report.drifted_features))
    if report.reason:
        lines.append(f"Reason: {report.reason}")
    body = "".join(f"<p>{_e(line)}</p>" for line in lines)
    if report.recent:
        dots = "".join(
            f'<span class="{"d" if drifted else "s"}" title="{"drifted" if drifted else "no drift"}"></span>'
            for drifted in report.recent
        )
        confirmed = "confirmed" if report.confirmed else "not confirmed"
        body += (
            f'<p class="runs">Last runs of this version, oldest first: {dots} '
            f"{_e(confirmed)} ({report.confirm_drifted} drifted of the last {report.confirm_runs} "
            "runs confirm a drift)</p>"
        )
    if report.alert:
        body += "<p><strong>Alert: this run confirmed the drift.</strong></p>"
    if report.retrain:
        body += "<p><strong>Retraining was requested.</strong></p>"
    status = report.status.replace("_", " ")
    return (
        f'<section class="verdict" id="verdict" style="color:{fg};background:{bg};border-color:{fg}">'
        f'<div class="status">{_e(status)}</div>{body}</section>'
    )


# --- the table --------------------------------------------------------------------------------


def _ordered(features: list[FeatureDrift], importance: Mapping[str, float] | None) -> list[FeatureDrift]:
    """By importance (highest first, unknown last) when given; else drifted, stable, skipped."""
    if importance:
        return sorted(
            features,
            key=lambda f: (f.feature not in importance, -importance.get(f.feature, 0.0)),
        )
    rank = {"drifted": 0, "stable": 1, "skipped": 2}
    return sorted(features, key=lambda f: rank[f.status])


def _table(
    features: list[FeatureDrift], importance: Mapping[str, float] | None, anchors: Mapping[str, str]
) -> str:
    headings = ["feature"]
    if importance:
        headings.append("importance")
    headings += [
        "kind",
        "method",
        "statistic",
        "p-value",
        "threshold",
        "drifted",
        "window size",
        "null share (window / baseline)",
        "data quality",
    ]
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    rows = []
    for f in features:
        cells = [f'<td><a href="#{anchors[f.feature]}">{_e(f.feature)}</a></td>']
        if importance:
            cells.append(f'<td class="n">{_e(_number(importance.get(f.feature)))}</td>')
        verdict = {"drifted": "drifted", "stable": "no", "skipped": "skipped"}[f.status]
        cells += [
            f"<td>{_e(f.kind)}</td>",
            f"<td>{_e(f.method)}</td>",
            f'<td class="n">{_e(_number(f.statistic))}</td>',
            f'<td class="n">{_e(_number(f.p_value))}</td>',
            f'<td class="n">{_e(_number(f.threshold))}</td>',
            f'<td><span class="badge {f.status}">{_e(verdict)}</span></td>',
            f'<td class="n">{f.window_size}</td>',
            f'<td class="n">{_e(_null_shares(f))}</td>',
            f"<td>{_e(_quality(f))}</td>",
        ]
        rows.append(f'<tr class="{f.status}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _null_shares(f: FeatureDrift) -> str:
    window = _percent(f.window_null_share) if f.window_null_share is not None else "-"
    return f"{window} / {_percent(f.baseline_null_share)}"


def _quality(f: FeatureDrift) -> str:
    q = f.quality
    counts = {
        "nulls": q.nulls,
        "unexpected nulls": q.unexpected_nulls,
        "type errors": q.type_errors,
        "out of range": q.out_of_range,
    }
    problems = [f"{n} {what}" for what, n in counts.items() if n]
    return ", ".join(problems) if problems else "clean"


# --- histograms -------------------------------------------------------------------------------


def _figure(f: FeatureDrift, anchor: str) -> str:
    test = f"{f.method}: statistic {_number(f.statistic)}"
    if f.p_value is not None:
        test += f", p-value {_number(f.p_value)}"
    test += f", threshold {_number(f.threshold)}"
    header = (
        f'<header><h3>{_e(f.feature)}</h3><span class="badge {f.status}">{_e(f.status)}</span>'
        f'<span class="note">{_e(f.kind)}, {_e(test)}, {f.window_size} values in the window</span></header>'
    )
    if f.histogram is None:
        return (
            f'<figure id="{anchor}" class="{f.status}">{header}'
            '<p class="note">No histogram: the baseline holds no bins for it.</p></figure>'
        )
    caption = (
        "Bars: share of values per cell. The cells are the baseline's quantile bins, drawn equally "
        "wide and labelled by their edges; values below the first edge count in the first bin, "
        "values above the last edge in the last."
        if f.histogram.edges is not None
        else "Bars: share of values per category (the most frequent of either side; (other) pools the rest)."
    )
    return (
        f'<figure id="{anchor}" class="{f.status}">{header}{_svg(f.feature, f.histogram)}'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _svg(name: str, histogram: Histogram) -> str:
    """Baseline and window proportions over the same cells, the window's bar over the baseline's."""
    base, live = histogram.baseline, histogram.window
    cells = max(len(base), 1)
    labels = _cell_labels(histogram)
    # Room for the first category's slanted label, which reaches left of its cell.
    first = len(_short(labels[0])) if histogram.edges is None and labels else 0
    half_slot = (SVG_WIDTH - PLOT_LEFT - PLOT_RIGHT) / cells / 2
    left = max(PLOT_LEFT, round(first * CHAR_WIDTH * SLANT_COS - half_slot + 4))
    plot_w = SVG_WIDTH - left - PLOT_RIGHT
    plot_h = SVG_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    floor = PLOT_TOP + plot_h
    top = max([*base, *live, 0.0]) or 1.0
    slot = plot_w / cells
    out = [
        f'<svg viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" '
        f'role="img" data-feature="{_e(name)}" aria-label="{_e(f"histogram of {name}")}">',
    ]
    for fraction in (0.0, 0.5, 1.0):  # grid lines with the share they stand for
        y = floor - fraction * plot_h
        out.append(
            f'<line x1="{left}" y1="{_f(y)}" x2="{SVG_WIDTH - PLOT_RIGHT}" y2="{_f(y)}" '
            f'stroke="#d0d7de" stroke-width="1"></line>'
            f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end">'
            f"{_e(_percent(top * fraction))}</text>"
        )
    for i in range(len(base)):
        x = left + i * slot
        tooltip = f"{labels[i]}: baseline {_percent(base[i])}, window {_percent(live[i])}"
        for side, share, width, colour, opacity in (
            ("baseline", base[i], BASELINE_BAR, BASELINE_COLOUR, "0.55"),
            ("window", live[i], WINDOW_BAR, WINDOW_COLOUR, "0.9"),
        ):
            height = share / top * plot_h
            out.append(
                f'<rect class="bar {side}" data-cell="{i}" data-share="{share:.6g}" '
                f'x="{_f(x + slot * (1 - width) / 2)}" y="{_f(floor - height)}" width="{_f(slot * width)}" '
                f'height="{_f(height)}" fill="{colour}" fill-opacity="{opacity}">'
                f"<title>{_e(tooltip)}</title></rect>"
            )
    out.append(_axis_labels(histogram, labels, left, slot, floor))
    out.append(_legend())
    out.append("</svg>")
    return "".join(out)


def _cell_labels(histogram: Histogram) -> list[str]:
    if histogram.labels is not None:
        return list(histogram.labels)
    edges = histogram.edges or []
    return [f"[{_number(a)}, {_number(b)}]" for a, b in pairwise(edges)]


def _axis_labels(histogram: Histogram, labels: Sequence[str], left: float, slot: float, floor: float) -> str:
    """Edges under the cell boundaries (numeric), or a category under each cell; slanted."""
    y = floor + 14
    marks: list[tuple[float, str]]
    if histogram.edges is not None:
        marks = [(left + i * slot, _number(edge)) for i, edge in enumerate(histogram.edges)]
    else:
        marks = [(left + (i + 0.5) * slot, _short(label)) for i, label in enumerate(labels)]
    return "".join(
        f'<text class="axis" x="{_f(x)}" y="{_f(y)}" text-anchor="end" '
        f'transform="rotate(-35 {_f(x)} {_f(y)})">{_e(text)}</text>'
        for x, text in marks
    )


def _legend() -> str:
    x = SVG_WIDTH - PLOT_RIGHT - 250
    return (
        f'<g class="legend" transform="translate({x} 8)">'
        f'<rect x="0" y="0" width="14" height="14" fill="{BASELINE_COLOUR}" fill-opacity="0.55"></rect>'
        '<text x="20" y="11">baseline (training)</text>'
        f'<rect x="150" y="0" width="14" height="14" fill="{WINDOW_COLOUR}" fill-opacity="0.9"></rect>'
        '<text x="170" y="11">window</text>'
        "</g>"
    )


# --- formatting -------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(value: float) -> str:
    return f"{value:.2f}"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"

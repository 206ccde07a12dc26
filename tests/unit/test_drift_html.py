"""The HTML drift report: well formed, self-contained, escaped, and bars as tall as their shares."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.sample_data import churn_table
from mlops_core.contracts import load_contract
from mlops_core.drift.compare import WindowComparison, compare_window
from mlops_core.drift.html import STATUS_COLOURS, comparison_report, render_html
from mlops_core.drift_check import DriftReport
from mlops_core.training.baseline import DriftBaseline, compute_baseline
from mlops_core.training.spec import training_spec

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"
HOSTILE = "<script>alert('x')</script>"
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class Page(HTMLParser):
    """Checks that every element is closed in order, and collects the histograms' bars."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.svgs: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.text: list[str] = []
        self._row: dict[str, Any] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "svg":
            self.svgs.append({"feature": attributes.get("data-feature"), "bars": []})
        if tag == "rect" and "bar" in attributes.get("class", "").split():
            self.svgs[-1]["bars"].append(
                {
                    "side": attributes["class"].split()[1],
                    "cell": int(attributes["data-cell"]),
                    "share": float(attributes["data-share"]),
                    "height": float(attributes["height"]),
                }
            )
        if tag == "tr" and self.open and self.open[-1] == "tbody":
            self._row = {"class": attributes.get("class", ""), "cells": []}
            self.rows.append(self._row)
        if tag == "td" and self._row is not None:
            self._cell = []
        if tag in VOID:
            return
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
            return
        self.open.pop()
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append("".join(self._cell))
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.open == [], f"left open: {parser.open}"
    return parser


@pytest.fixture(scope="module")
def baseline() -> DriftBaseline:
    contract = load_contract(CHURN.read_text())
    return compute_baseline(churn_table(4000, seed=4).to_pandas(), contract, training_spec(contract))


def shifted_rows(rows: int, seed: int) -> list[dict[str, Any]]:
    table = churn_table(rows, seed=seed).to_pylist()
    for row in table:
        row["monthly_charges"] += 30.0
        if row["plan"] == "basic":
            row["plan"] = "pro"
    return table


@pytest.fixture(scope="module")
def comparison(baseline: DriftBaseline) -> WindowComparison:
    rows = shifted_rows(600, seed=31)
    return compare_window(baseline, rows, predictions=[row["churned"] for row in rows])


def report_of(comparison: WindowComparison, baseline: DriftBaseline, drift_share: float = 0.3) -> DriftReport:
    return comparison_report(
        comparison, baseline, drift_share=drift_share, checked_at=datetime(2026, 11, 20, tzinfo=UTC)
    )


def test_the_page_is_well_formed_with_one_histogram_per_tested_feature_and_the_predictions(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    page = parse(render_html(report_of(comparison, baseline)))

    tested = [f.feature for f in comparison.tested]
    assert sorted(s["feature"] for s in page.svgs) == sorted([*tested, baseline.target.name])
    assert page.tags[:3] == ["html", "head", "meta"]
    for svg in page.svgs:
        sides = {bar["side"] for bar in svg["bars"]}
        assert sides == {"baseline", "window"}
        cells = {bar["cell"] for bar in svg["bars"] if bar["side"] == "window"}
        assert cells == {bar["cell"] for bar in svg["bars"] if bar["side"] == "baseline"}
        assert "baseline (training)" in "".join(page.text)  # the legend


def test_bar_heights_follow_the_reports_proportions(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    report = report_of(comparison, baseline)
    page = parse(render_html(report))

    for svg in page.svgs:
        feature = (
            report.prediction if svg["feature"] == baseline.target.name else report.features[svg["feature"]]
        )
        assert feature is not None and feature.histogram is not None
        expected = {("baseline", i): share for i, share in enumerate(feature.histogram.baseline)} | {
            ("window", i): share for i, share in enumerate(feature.histogram.window)
        }
        bars = {(bar["side"], bar["cell"]): bar for bar in svg["bars"]}
        assert set(bars) == set(expected)
        # The two tallest bars are the two largest proportions of the report.
        tallest = sorted(bars, key=lambda k: -bars[k]["height"])[:2]
        largest = sorted(expected, key=lambda k: -expected[k])[:2]
        assert [expected[k] for k in tallest] == pytest.approx([expected[k] for k in largest], abs=1e-6)
        # And every bar's height is its share on one scale.
        top = max(expected.values())
        full = bars[largest[0]]["height"]
        for key, bar in bars.items():
            assert bar["height"] == pytest.approx(expected[key] / top * full, abs=0.01)


def test_the_shifted_features_histograms_show_the_shift(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    page = parse(render_html(report_of(comparison, baseline)))
    plan = next(s for s in page.svgs if s["feature"] == "plan")
    window = {bar["cell"]: bar["height"] for bar in plan["bars"] if bar["side"] == "window"}
    base = {bar["cell"]: bar["height"] for bar in plan["bars"] if bar["side"] == "baseline"}
    histogram = comparison.features[[f.feature for f in comparison.features].index("plan")].histogram
    assert histogram is not None and histogram.labels is not None
    basic = histogram.labels.index("basic")
    assert window[basic] == 0.0 < base[basic]  # no basic plan left in the window


def test_drifted_rows_are_marked_and_importance_orders_the_table(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    report = report_of(comparison, baseline)
    names = [f.feature for f in comparison.features]
    importance = {name: float(i + 1) for i, name in enumerate(names)}  # the last is the most important

    page = parse(render_html(report, importance))

    assert [row["cells"][0] for row in page.rows] == list(reversed(names))
    assert [float(row["cells"][1]) for row in page.rows] == sorted(importance.values(), reverse=True)
    marked = {row["cells"][0] for row in page.rows if row["class"] == "drifted"}
    assert marked == set(report.drifted_features) and marked


def test_without_importance_drifted_features_come_first(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    page = parse(render_html(report_of(comparison, baseline)))
    classes = [row["class"] for row in page.rows]
    assert classes == sorted(classes, key=lambda c: {"drifted": 0, "stable": 1, "skipped": 2}[c])
    assert "importance" not in "".join(page.text)


def test_the_verdict_has_the_status_and_its_colour(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    drifting = render_html(report_of(comparison, baseline, drift_share=0.3))
    calm = render_html(report_of(comparison, baseline, drift_share=0.9))
    assert comparison.verdict(0.3) == "drift" and comparison.verdict(0.9) == "ok"
    assert f"color:{STATUS_COLOURS['drift'][0]}" in drifting
    assert f"color:{STATUS_COLOURS['ok'][0]}" in calm
    assert "the run drifts" in drifting and "the run does not drift" in calm


def test_hostile_names_and_values_are_escaped(baseline: DriftBaseline) -> None:
    renamed = [c.model_copy(update={"name": HOSTILE}) if c.name == "plan" else c for c in baseline.features]
    hostile = baseline.model_copy(update={"features": renamed})
    rows = churn_table(300, seed=5).to_pylist()
    for i, row in enumerate(rows):
        value = row.pop("plan")
        row[HOSTILE] = "<img src=x onerror=alert(1)>" if i % 2 else value

    report = comparison_report(compare_window(hostile, rows), hostile, model="<b>churn</b>", run_id='"><i>')
    page_text = render_html(report, {HOSTILE: 1.0})
    page = parse(page_text)

    assert "<script" not in page_text and "<img" not in page_text and "<b>" not in page_text
    assert not {"script", "img", "b", "i"} & set(page.tags)
    assert HOSTILE in [s["feature"] for s in page.svgs]  # escaped in the attribute, intact when read
    assert HOSTILE in page.text and "<b>churn</b>" in "".join(page.text)


def test_the_page_references_nothing_outside_itself(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    page_text = render_html(report_of(comparison, baseline), {"plan": 0.2})
    page = parse(page_text)
    lowered = page_text.lower()
    for reference in ("http://", "https://", "src=", "url(", "@import", "//cdn"):
        assert reference not in lowered
    assert not {"script", "link", "img", "iframe", "object"} & set(page.tags)
    assert page.tags.count("style") == 1


def test_skipped_features_are_listed_with_their_reason(baseline: DriftBaseline) -> None:
    rows = churn_table(200, seed=6).to_pylist()
    for row in rows:
        row["support_tickets"] = None
    comparison = compare_window(baseline, rows)
    skipped = [f for f in comparison.features if f.status == "skipped"]
    assert [f.feature for f in skipped] == ["support_tickets"]

    page_text = render_html(report_of(comparison, baseline))
    page = parse(page_text)

    assert "support_tickets" not in [s["feature"] for s in page.svgs]
    assert skipped[0].reason is not None and skipped[0].reason in "".join(page.text)


def test_insufficient_data_and_skipped_reports_render_their_reason(baseline: DriftBaseline) -> None:
    small = compare_window(baseline, churn_table(5, seed=7).to_pylist())
    insufficient = report_of(small, baseline)
    assert insufficient.status == "insufficient_data"
    page = parse(render_html(insufficient))
    assert page.svgs == []
    assert "insufficient data" in "".join(page.text)

    skipped = DriftReport(
        model="churn",
        version=None,
        run_id="r9",
        checked_at=datetime(2026, 11, 20, tzinfo=UTC),
        status="skipped",
        reason="no production version",
    )
    page_text = render_html(skipped)
    parse(page_text)
    assert f"color:{STATUS_COLOURS['skipped'][0]}" in page_text and "no production version" in page_text


def test_a_stored_report_renders_from_its_json_alone(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    report = report_of(comparison, baseline)
    stored = report.model_dump_json(indent=2)
    assert render_html(DriftReport.model_validate_json(stored)) == render_html(report)


def test_a_local_check_is_reported_under_the_baselines_dataset(
    comparison: WindowComparison, baseline: DriftBaseline
) -> None:
    report = report_of(comparison, baseline)
    assert (report.model, report.dataset, report.version) == (baseline.dataset, baseline.dataset, None)
    assert report.drifted_features == comparison.drifted
    assert report.drift_share == pytest.approx(comparison.drift_share)
    page = parse(render_html(report, source="window.csv: 600 rows"))
    assert "window.csv: 600 rows" in page.text

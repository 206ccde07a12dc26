"""Schedule expressions on the local cloud's clock: rate, cron and at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_cli.local.schedules import LocalClock, ScheduleExpressionError, firings

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _times(expression: str, minutes: int, anchor: datetime = START) -> list[str]:
    return [
        f"{t:%a %d %H:%M}"
        for t in firings(expression, START, START + timedelta(minutes=minutes), anchor=anchor)
    ]


def test_a_rate_fires_every_period_counted_from_the_anchor() -> None:
    assert _times("rate(5 minutes)", 16) == ["Fri 27 12:05", "Fri 27 12:10", "Fri 27 12:15"]
    assert _times("rate(1 hour)", 125, anchor=START - timedelta(minutes=30)) == [
        "Fri 27 12:30",
        "Fri 27 13:30",
    ]


def test_a_window_that_ends_before_the_next_period_fires_nothing() -> None:
    assert _times("rate(1 day)", 60) == []


def test_cron_with_steps_ranges_and_names() -> None:
    assert _times("cron(0/20 12-13 ? * FRI *)", 90) == [
        "Fri 27 12:20",
        "Fri 27 12:40",
        "Fri 27 13:00",
        "Fri 27 13:20",
    ]
    assert _times("cron(0 0 ? * SAT,SUN *)", 3 * 24 * 60) == ["Sat 28 00:00", "Sun 29 00:00"]
    assert _times("cron(30 12 27 NOV ? 2026)", 60) == ["Fri 27 12:30"]


def test_at_fires_once_inside_the_window() -> None:
    assert _times("at(2026-11-27T12:07:00)", 10) == ["Fri 27 12:07"]
    assert _times("at(2026-11-27T11:07:00)", 10) == []


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("every 5 minutes", "expected rate(N unit), cron(...) or at("),
        ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 12 * *)", "AWS cron has 6 fields"),
        ("cron(0 25 * * ? *)", "'25' is outside 0-23"),
        ("cron(0 12 L * ? *)", "(L, W, #) is not supported by the local cloud"),
        ("cron(x 12 * * ? *)", "'x' is not a number or a name"),
    ],
)
def test_expressions_the_local_cloud_cannot_run_are_named(expression: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(firings(expression, START, START + timedelta(hours=1), anchor=START))


def test_the_clock_moves_only_when_told() -> None:
    clock = LocalClock(frozen_at=START)

    assert clock.now() == START
    assert clock.advance(90) == START + timedelta(seconds=90)
    assert clock.now() == START + timedelta(seconds=90)

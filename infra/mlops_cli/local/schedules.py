"""Schedules on a clock the local cloud controls: rate(), cron() and at() expressions.

EventBridge rules with a ScheduleExpression send a "Scheduled Event" to their targets;
EventBridge Scheduler schedules send their target's Input. Neither runs in moto, so
:class:`ScheduleRunner` fires them here when :class:`LocalClock` passes their time: tests
call ``advance``, ``mlops local up`` follows real time.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_cli.local.stack import ACCOUNT_ID

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_SECOND = timedelta(seconds=1)
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    name: index
    for index, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


class ScheduleExpressionError(ValueError):
    """An expression the local cloud cannot evaluate, named with the reason."""


@dataclass
class LocalClock:
    """Now, as the local cloud sees it: real time unless a test moves it by hand."""

    frozen_at: datetime | None = None

    def now(self) -> datetime:
        return self.frozen_at if self.frozen_at is not None else datetime.now(UTC)

    def advance(self, seconds: float) -> datetime:
        self.frozen_at = self.now() + timedelta(seconds=seconds)
        return self.frozen_at


def firings(expression: str, after: datetime, until: datetime, *, anchor: datetime) -> Iterator[datetime]:
    """Times in (after, until] at which ``expression`` fires; rate() counts from ``anchor``."""
    if match := _RATE.match(expression):
        amount, unit = int(match.group(1)), match.group(2).rstrip("s")
        period = timedelta(seconds=amount * _UNIT_SECONDS[unit])
        if period <= timedelta(0):
            raise ScheduleExpressionError(f"{expression}: the rate must be positive")
        count = int((after - anchor) / period) + 1 if after >= anchor else 1
        moment = anchor + count * period
        while moment <= until:
            if moment > after:
                yield moment
            moment += period
        return
    if match := _AT.match(expression):
        moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
        if after < moment <= until:
            yield moment
        return
    if match := _CRON.match(expression):
        cron = _Cron.parse(match.group(1), expression)
        moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while moment <= until:
            if cron.matches(moment):
                yield moment
            moment += timedelta(minutes=1)
        return
    raise ScheduleExpressionError(
        f"{expression!r}: expected rate(N unit), cron(...) or at(yyyy-mm-ddThh:mm:ss)"
    )


@dataclass(frozen=True)
class _Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: '?'
    months: frozenset[int]
    weekdays: frozenset[int] | None
    years: frozenset[int] | None

    @classmethod
    def parse(cls, body: str, expression: str) -> _Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(
                f"{expression}: AWS cron has 6 fields (minutes hours day month weekday year)"
            )
        minutes, hours, days, months, weekdays, years = fields
        if (days == "?") == (weekdays == "?"):
            raise ScheduleExpressionError(
                f"{expression}: exactly one of day-of-month and day-of-week must be '?'"
            )
        return cls(
            _field(minutes, 0, 59, {}, expression),
            _field(hours, 0, 23, {}, expression),
            None if days == "?" else _field(days, 1, 31, {}, expression),
            _field(months, 1, 12, _MONTHS, expression),
            None if weekdays == "?" else _field(weekdays, 1, 7, _DAYS, expression),
            None if years == "*" else _field(years, 1970, 2199, {}, expression),
        )

    def matches(self, moment: datetime) -> bool:
        weekday = (moment.isoweekday() % 7) + 1  # AWS: 1 = Sunday
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and (self.days is None or moment.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
            and (self.years is None or moment.year in self.years)
        )


def _field(text: str, low: int, high: int, names: dict[str, int], expression: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if any(mark in part for mark in ("L", "W", "#")) and part.upper() not in names:
            raise ScheduleExpressionError(
                f"{expression}: {part!r} (L, W, #) is not supported by the local cloud"
            )
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", ""):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, names, expression), _number(last, names, expression)
        else:
            start = _number(base, names, expression)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ScheduleExpressionError(f"{expression}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, names: dict[str, int], expression: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleExpressionError(f"{expression}: {text!r} is not a number or a name")
    return int(text)


@dataclass
class ScheduleRunner:
    """Fires the schedule rules of the default bus and EventBridge Scheduler schedules."""

    session: Any
    region: str
    clock: LocalClock
    deliver_rule: Callable[[str, dict[str, Any], dict[str, Any], dict[str, Any]], int]
    deliver_schedule: Callable[[dict[str, Any], Any], bool]
    started: datetime = field(init=False)
    _last_tick: datetime = field(init=False)
    _fired_once: set[tuple[str, str]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.started = self._last_tick = self.clock.now()

    def tick(self) -> int:
        """Fire everything due since the last tick; returns how many firings there were."""
        now = self.clock.now()
        fired = self._fire_rules(self._last_tick, now) + self._fire_schedules(self._last_tick, now)
        self._last_tick = now
        return fired

    def _fire_rules(self, after: datetime, until: datetime) -> int:
        events = self.session.client("events")
        fired = 0
        for rule in events.list_rules(EventBusName="default")["Rules"]:
            expression = rule.get("ScheduleExpression")
            if not expression or rule.get("State", "ENABLED") != "ENABLED":
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            for moment in firings(expression, after, until, anchor=self.started):
                event = _scheduled_event(rule, moment, self.region)
                for target in targets:
                    fired += self.deliver_rule("default", rule, target, event)
        return fired

    def _fire_schedules(self, after: datetime, until: datetime) -> int:
        scheduler = self.session.client("scheduler")
        fired = 0
        for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
            for summary in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
                try:
                    schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group["Name"])
                except scheduler.exceptions.ResourceNotFoundException:
                    continue  # deleted by an earlier firing of this tick
                if schedule.get("State", "ENABLED") != "ENABLED":
                    continue
                expression = schedule["ScheduleExpression"]
                one_time = _AT.match(expression)
                since = after
                if one_time is not None and (summary["Name"], expression) not in self._fired_once:
                    # A one-time schedule fires once, as soon as it is due, even when it was created
                    # for a time the local clock has already passed (functions read the real clock).
                    due = datetime.fromisoformat(one_time.group(1)).replace(tzinfo=UTC)
                    since = min(after, due - _SECOND)
                for moment in firings(expression, since, until, anchor=self.started):
                    if one_time is not None:
                        self._fired_once.add((summary["Name"], expression))
                    target = schedule["Target"]
                    text = _context_attributes(target.get("Input") or "", schedule, moment)
                    payload = json.loads(text) if text else {}
                    self.deliver_schedule(target, payload)
                    fired += 1
                done = (
                    one_time is not None
                    and datetime.fromisoformat(one_time.group(1)).replace(tzinfo=UTC) <= until
                )
                if done and schedule.get("ActionAfterCompletion") == "DELETE":
                    with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
                        # The target may have deleted it already (a rollout cancelling its steps).
                        scheduler.delete_schedule(Name=summary["Name"], GroupName=group["Name"])
        return fired


def _context_attributes(text: str, schedule: dict[str, Any], moment: datetime) -> str:
    """Scheduler's context attributes in a target's Input, filled as Scheduler fills them."""
    values = {
        "<aws.scheduler.scheduled-time>": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.schedule-arn>": schedule.get("Arn", ""),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def _scheduled_event(rule: dict[str, Any], moment: datetime, region: str) -> dict[str, Any]:
    """The event EventBridge sends to a schedule rule's targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.get("Arn", "")],
        "detail": {},
    }

"""Recurrence: the rule table over month ends, leap years and DST, and completing a recurring task."""

from __future__ import annotations

from datetime import date, datetime, time, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.todos.models import TaskCompletion
from apps.todos.recurrence import local_moment, next_occurrence, recurrence_normalize
from apps.todos.services import task_complete, task_create, task_uncomplete, todo_settings_update

# (rule, current occurrence, expected next three)
TABLE = [
    ("FREQ=DAILY", datetime(2026, 12, 31, 9), [datetime(2027, 1, 1, 9), datetime(2027, 1, 2, 9), datetime(2027, 1, 3, 9)]),
    ("FREQ=DAILY;INTERVAL=3", datetime(2028, 2, 27), [datetime(2028, 3, 1), datetime(2028, 3, 4), datetime(2028, 3, 7)]),
    # weekdays: Friday -> Monday
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", datetime(2026, 12, 4), [datetime(2026, 12, 7), datetime(2026, 12, 8), datetime(2026, 12, 9)]),
    ("FREQ=WEEKLY;BYDAY=MO,TH", datetime(2026, 12, 31), [datetime(2027, 1, 4), datetime(2027, 1, 7), datetime(2027, 1, 11)]),
    ("FREQ=WEEKLY;INTERVAL=2", datetime(2026, 12, 28), [datetime(2027, 1, 11), datetime(2027, 1, 25), datetime(2027, 2, 8)]),
    # monthly on the 31st skips months without one (RFC 5545)
    ("FREQ=MONTHLY;BYMONTHDAY=31", datetime(2027, 1, 31), [datetime(2027, 3, 31), datetime(2027, 5, 31), datetime(2027, 7, 31)]),
    # "last day of the month" lands on Feb 29 in a leap year, Feb 28 otherwise
    ("FREQ=MONTHLY;BYMONTHDAY=-1", datetime(2028, 1, 31), [datetime(2028, 2, 29), datetime(2028, 3, 31), datetime(2028, 4, 30)]),
    ("FREQ=MONTHLY;BYMONTHDAY=-1", datetime(2027, 1, 31), [datetime(2027, 2, 28), datetime(2027, 3, 31), datetime(2027, 4, 30)]),
    ("FREQ=MONTHLY;BYMONTHDAY=1", datetime(2026, 12, 1), [datetime(2027, 1, 1), datetime(2027, 2, 1), datetime(2027, 3, 1)]),
    ("FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1", datetime(2026, 12, 25), [datetime(2027, 1, 29), datetime(2027, 2, 26), datetime(2027, 3, 26)]),
    # yearly on Feb 29 waits for the next leap year
    ("FREQ=YEARLY", datetime(2028, 2, 29), [datetime(2032, 2, 29), datetime(2036, 2, 29), datetime(2040, 2, 29)]),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1", datetime(2027, 2, 28), [datetime(2028, 2, 29), datetime(2029, 2, 28), datetime(2030, 2, 28)]),
    # across the US spring-forward (8 March 2026) and fall-back (1 November 2026): wall time stays 09:00
    ("FREQ=DAILY", datetime(2026, 3, 7, 9), [datetime(2026, 3, 8, 9), datetime(2026, 3, 9, 9), datetime(2026, 3, 10, 9)]),
    ("FREQ=WEEKLY", datetime(2026, 10, 25, 9), [datetime(2026, 11, 1, 9), datetime(2026, 11, 8, 9), datetime(2026, 11, 15, 9)]),
]


@pytest.mark.parametrize(("rule", "current", "expected"), TABLE, ids=[f"{r}@{c:%Y-%m-%d}" for r, c, _ in TABLE])
def test_each_rule_gives_the_expected_next_occurrences(rule, current, expected):
    got = []
    for _ in expected:
        current = next_occurrence(rule, current=current)
        got.append(current)
    assert got == expected


def test_wall_time_is_kept_across_dst_so_the_utc_moment_shifts():
    zone = ZoneInfo("America/New_York")
    before = local_moment(date(2026, 3, 7), time(9), zone).astimezone(dt_timezone.utc)
    after = local_moment(date(2026, 3, 8), time(9), zone).astimezone(dt_timezone.utc)
    assert (before.hour, after.hour) == (14, 13)  # EST then EDT


def test_until_ends_the_series():
    assert next_occurrence("FREQ=DAILY;UNTIL=20270102T000000", current=datetime(2027, 1, 2)) is None


@pytest.mark.parametrize(
    "rule",
    ["FREQ=HOURLY", "FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;BYDAY=XX", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "nonsense",
     "FREQ=DAILY;INTERVAL=0", "FREQ=DAILY;FREQ=WEEKLY", "FREQ=DAILY;" + "BYDAY=MO," * 40],
)
def test_bad_or_unbounded_rules_are_refused(rule):
    with pytest.raises(ValidationFailed):
        recurrence_normalize(rule)


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("20270101T000000Z", "without the trailing Z (UNTIL=20270101T000000)"),  # dateutil blamed a DTSTART
        ("2027", "UNTIL must be a date"),  # dateutil read it as some day of 2027
        ("20270101T0000", "UNTIL must be a date"),
    ],
)
def test_an_until_in_another_form_is_refused_saying_how_to_write_it(until, message):
    with pytest.raises(ValidationFailed) as refused:
        recurrence_normalize(f"FREQ=DAILY;UNTIL={until}")
    assert message in refused.value.message


def test_an_until_date_or_wall_clock_time_is_kept():
    assert recurrence_normalize("freq=daily;until=20271231") == "FREQ=DAILY;UNTIL=20271231"
    assert recurrence_normalize("FREQ=DAILY;UNTIL=20271231T170000") == "FREQ=DAILY;UNTIL=20271231T170000"


def test_rule_text_is_normalised():
    assert recurrence_normalize(" rrule:freq=weekly;byday=mo,we ") == "FREQ=WEEKLY;BYDAY=MO,WE"


@pytest.fixture
def frozen_now(monkeypatch):
    moment = datetime(2027, 1, 29, 12, 0, tzinfo=dt_timezone.utc)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def test_completing_a_recurring_task_three_times_leaves_three_completions_and_the_right_next_date(user_a, frozen_now):
    task = task_create(user=user_a, title="pay rent", due_date=date(2027, 1, 31), recurrence="FREQ=MONTHLY;BYMONTHDAY=-1")
    for _ in range(3):
        task = task_complete(user=user_a, task_id=task.pk)
    assert not task.completed
    assert task.due_date == date(2027, 4, 30)
    history = list(TaskCompletion.objects.filter(task=task).order_by("completed_at", "id").values_list("due_date", flat=True))
    assert history == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)]


def test_uncompleting_a_recurring_task_undoes_the_last_completion(user_a, frozen_now):
    task = task_create(user=user_a, title="water plants", due_date=date(2027, 1, 29), recurrence="FREQ=DAILY")
    task_complete(user=user_a, task_id=task.pk)
    task = task_complete(user=user_a, task_id=task.pk)
    assert task.due_date == date(2027, 1, 31)
    task = task_uncomplete(user=user_a, task_id=task.pk)
    assert task.due_date == date(2027, 1, 30)
    assert TaskCompletion.objects.filter(task=task).count() == 1


def test_an_overdue_recurring_task_moves_to_the_next_occurrence_from_today(user_a, frozen_now):
    task = task_create(user=user_a, title="stretch", due_date=date(2027, 1, 1), recurrence="FREQ=DAILY")
    assert task_complete(user=user_a, task_id=task.pk).due_date == date(2027, 1, 29)


def test_a_recurring_task_without_a_date_starts_at_its_first_occurrence(user_a, frozen_now):
    todo_settings_update(user=user_a, time_zone="Pacific/Kiritimati")  # already 30 January there
    task = task_create(user=user_a, title="rent", recurrence="FREQ=MONTHLY;BYMONTHDAY=1")
    assert task.due_date == date(2027, 2, 1)


def test_the_last_occurrence_completes_the_task(user_a, frozen_now):
    task = task_create(user=user_a, title="course", due_date=date(2027, 1, 29), recurrence="FREQ=DAILY;UNTIL=20270129T235959")
    task = task_complete(user=user_a, task_id=task.pk)
    assert task.completed
    task = task_uncomplete(user=user_a, task_id=task.pk)
    assert not task.completed and task.due_date == date(2027, 1, 29)


def test_completing_a_recurring_task_due_on_the_last_calendar_day_simply_completes_it(user_a, frozen_now):
    task = task_create(user=user_a, title="forever", due_date=date(9999, 12, 31), recurrence="FREQ=DAILY")
    task = task_complete(user=user_a, task_id=task.pk)
    assert task.completed and task.due_date == date(9999, 12, 31)

"""Writes of tasks, lists, labels, reminders and settings: each is atomic and writes its audit event in the same transaction.

Every write also calls ``user_data_changed(user=...)`` (apps.core.cache): that user's cached tool
results (list_tasks, get_task, task_statistics, ...) are dropped in every process. A new write
service must call it too (tests/todos/test_cache_bumps.py checks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.cache import user_data_changed
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.fields import ASCII_WHITESPACE
from apps.todos.models import (
    DESCRIPTION_MAX_LENGTH,
    INBOX_NAME,
    LABEL_NAME_MAX_LENGTH,
    LIST_NAME_MAX_LENGTH,
    PRIORITY_RANKS,
    TITLE_MAX_LENGTH,
    Label,
    Notification,
    Reminder,
    Task,
    TaskCompletion,
    TaskList,
    TodoSettings,
)
from apps.todos.recurrence import (
    first_occurrence,
    local_moment,
    next_occurrence,
    recurrence_normalize,
    time_zone_validate,
    user_zone,
)

logger = logging.getLogger(__name__)

_UNSET: Any = object()
TASK_CREATE_MANY_MAX = 25
TASK_BATCH_MAX = 25
LABELS_PER_TASK_MAX = 20
REMINDERS_PER_TASK_MAX = 5
REMINDER_MINUTES_MAX = 60 * 24 * 30
LISTS_PER_USER_MAX = 200
_UPDATABLE = ("title", "description", "priority", "due_date", "due_time", "recurrence", "task_list")


def _locked_task(*, user, task_id: int) -> Task:
    task = Task.objects.select_for_update().filter(owner=user, pk=task_id).first()
    if task is None:
        raise NotFound("Task not found.", code="task_not_found", extra={"task_id": task_id})
    return task


def _validate(task: Task) -> None:
    """Model-level checks, so services called from MCP tools or pages get the same rules as the API."""
    task.title = (task.title or "").strip(ASCII_WHITESPACE)
    if not task.title:
        raise ValidationFailed(
            "Title must not be empty.", extra={"fields": {"title": ["This field may not be blank."]}}
        )
    if "\x00" in task.title:
        raise ValidationFailed(
            "Null characters are not allowed.", extra={"fields": {"title": ["Null characters are not allowed."]}}
        )
    if len(task.title) > TITLE_MAX_LENGTH:
        raise ValidationFailed(
            f"Title must be at most {TITLE_MAX_LENGTH} characters.",
            extra={"fields": {"title": [f"Ensure this field has no more than {TITLE_MAX_LENGTH} characters."]}},
        )
    if "\x00" in (task.description or ""):
        raise ValidationFailed(
            "Null characters are not allowed.", extra={"fields": {"description": ["Null characters are not allowed."]}}
        )
    if len(task.description or "") > DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed(
            f"Description must be at most {DESCRIPTION_MAX_LENGTH} characters.",
            extra={"fields": {"description": [f"Ensure this field has no more than {DESCRIPTION_MAX_LENGTH} characters."]}},
        )
    if task.due_time is not None and task.due_date is None:
        raise ValidationFailed("A due time needs a due date.", extra={"fields": {"due_time": ["A due time needs a due date."]}})
    try:
        task.full_clean(exclude=["owner"])
    except DjangoValidationError as exc:
        fields = exc.message_dict
        first = next(iter(fields.values()))[0]
        raise ValidationFailed(first, extra={"fields": fields}) from exc


def _fail(field: str, message: str, code: str = "validation_error") -> ValidationFailed:
    return ValidationFailed(message, code=code, extra={"fields": {field: [message]}})


def _clean_name(value: Any, *, field: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _fail(field, "Must be a string.")
    name = value.strip(ASCII_WHITESPACE)
    if not name:
        raise _fail(field, "This field may not be blank.")
    if "\x00" in name:
        raise _fail(field, "Null characters are not allowed.")
    if len(name) > max_length:
        raise _fail(field, f"Ensure this field has no more than {max_length} characters.")
    return name


# -- settings ---------------------------------------------------------------------------------


def todo_settings_get(*, user) -> TodoSettings:
    """The user's todo settings (defaults until they change one)."""
    return TodoSettings.objects.filter(user=user).first() or TodoSettings(user=user)


@transaction.atomic
def todo_settings_update(*, user, time_zone: str = _UNSET, email_reminders: bool = _UNSET) -> TodoSettings:
    """Change the user's time zone ("" = the server's) or email opt-in for reminders."""
    current, _ = TodoSettings.objects.select_for_update().get_or_create(user=user)
    changed = []
    if time_zone is not _UNSET:
        current.time_zone = time_zone_validate(time_zone)
        changed.append("time_zone")
    if email_reminders is not _UNSET:
        current.email_reminders = bool(email_reminders)
        changed.append("email_reminders")
    if changed:
        current.save(update_fields=changed)
        audit_record(actor=user, action="todo_settings.update", target=current, metadata={"fields": changed})
        user_data_changed(user=user)
        if "time_zone" in changed:
            _reschedule_user_reminders(user=user)
    return current


# -- lists and labels ---------------------------------------------------------------------------


def task_list_inbox(*, user) -> TaskList:
    """The user's Inbox, made the first time it is needed (two racing first requests both get the one row)."""
    inbox = TaskList.objects.filter(owner=user, is_inbox=True).first()
    if inbox is not None:
        return inbox
    try:
        with transaction.atomic():
            return TaskList.objects.create(owner=user, name=INBOX_NAME, is_inbox=True)
    except IntegrityError:
        return TaskList.objects.get(owner=user, is_inbox=True)


def task_list_id_by_name(*, user, name: str) -> int:
    """The id of the user's list with this name (ignoring case); a missing one is a clear 404."""
    cleaned = _clean_name(name, field="list_name", max_length=LIST_NAME_MAX_LENGTH)
    if cleaned.lower() == INBOX_NAME.lower():
        return task_list_inbox(user=user).pk
    found = TaskList.objects.filter(owner=user, name__iexact=cleaned).values_list("pk", flat=True).first()
    if found is None:
        names = ", ".join(TaskList.objects.filter(owner=user).order_by("name").values_list("name", flat=True)[:20])
        raise NotFound(
            f"You have no list named “{cleaned}” (your lists: {names or INBOX_NAME}).",
            code="list_not_found",
            extra={"list_name": cleaned},
        )
    return found


def _list_for(*, user, list_id: int, lock: bool = False) -> TaskList:
    # Rename and delete lock the row: unlocked, a rename racing a delete saved no row (a 500).
    lists = TaskList.objects.select_for_update() if lock else TaskList.objects
    found = lists.filter(owner=user, pk=list_id).first()
    if found is None:
        raise NotFound("List not found.", code="list_not_found", extra={"list_id": list_id})
    return found


def _name_taken(model, *, user, name: str, exclude_id: int | None = None) -> bool:
    qs = model.objects.filter(owner=user, name__iexact=name)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


@transaction.atomic
def task_list_create(*, user, name: str) -> TaskList:
    """Add a list (names are unique per user, ignoring case)."""
    task_list_inbox(user=user)
    name = _clean_name(name, field="name", max_length=LIST_NAME_MAX_LENGTH)
    if _name_taken(TaskList, user=user, name=name):
        raise Conflict("You already have a list with that name.", code="list_exists", extra={"name": name})
    if TaskList.objects.filter(owner=user).count() >= LISTS_PER_USER_MAX:
        raise ValidationFailed(f"You can have at most {LISTS_PER_USER_MAX} lists.", code="too_many_lists")
    try:
        with transaction.atomic():
            created = TaskList.objects.create(owner=user, name=name)
    except IntegrityError:
        raise Conflict("You already have a list with that name.", code="list_exists", extra={"name": name}) from None
    audit_record(actor=user, action="task_list.create", target=created)
    user_data_changed(user=user)
    return created


@transaction.atomic
def task_list_rename(*, user, list_id: int, name: str) -> TaskList:
    """Rename one of the user's lists (the Inbox keeps its name)."""
    found = _list_for(user=user, list_id=list_id, lock=True)
    name = _clean_name(name, field="name", max_length=LIST_NAME_MAX_LENGTH)
    if found.is_inbox:
        raise ValidationFailed("The Inbox cannot be renamed.", code="inbox_fixed", extra={"list_id": list_id})
    if found.name == name:
        return found
    taken = Conflict("You already have a list with that name.", code="list_exists", extra={"name": name})
    if _name_taken(TaskList, user=user, name=name, exclude_id=found.pk):
        raise taken
    found.name = name
    try:
        with transaction.atomic():  # another list renamed to this name at the same moment
            found.save(update_fields=["name"])
    except IntegrityError:
        raise taken from None
    audit_record(actor=user, action="task_list.rename", target=found)
    user_data_changed(user=user)
    return found


@transaction.atomic
def task_list_delete(*, user, list_id: int) -> int:
    """Delete a list; its tasks move to the Inbox (nothing is lost). Returns how many moved."""
    found = _list_for(user=user, list_id=list_id, lock=True)
    if found.is_inbox:
        raise ValidationFailed("The Inbox cannot be deleted.", code="inbox_fixed", extra={"list_id": list_id})
    moved = Task.objects.filter(owner=user, task_list=found).update(task_list=task_list_inbox(user=user))
    audit_record(actor=user, action="task_list.delete", target=found, metadata={"tasks_moved": moved})
    user_data_changed(user=user)
    found.delete()
    return moved


def _labels_for(*, user, names: Sequence[str]) -> list[Label]:
    """The user's labels with these names (ignoring case), made when missing."""
    if not isinstance(names, (list, tuple)):
        raise _fail("labels", "Give a list of label names.")
    if len(names) > LABELS_PER_TASK_MAX:
        raise _fail("labels", f"A task can have at most {LABELS_PER_TASK_MAX} labels.")
    wanted: dict[str, str] = {}
    for raw in names:
        name = _clean_name(raw, field="labels", max_length=LABEL_NAME_MAX_LENGTH).lstrip("#@").strip(ASCII_WHITESPACE)
        if not name:
            raise _fail("labels", "A label needs a name (letters or digits, not only # or @).")
        wanted.setdefault(name.lower(), name)
    found = {label.name.lower(): label for label in Label.objects.filter(owner=user, name__in=list(wanted.values()))}
    labels = []
    for key, name in wanted.items():
        label = found.get(key) or Label.objects.filter(owner=user, name__iexact=name).first()
        if label is None:
            try:
                with transaction.atomic():
                    label = Label.objects.create(owner=user, name=name)
            except IntegrityError:
                label = Label.objects.get(owner=user, name__iexact=name)
        labels.append(label)
    return labels


@transaction.atomic
def label_rename(*, user, label_id: int, name: str) -> Label:
    """Rename one of the user's labels."""
    label = Label.objects.select_for_update().filter(owner=user, pk=label_id).first()
    if label is None:
        raise NotFound("Label not found.", code="label_not_found", extra={"label_id": label_id})
    name = _clean_name(name, field="name", max_length=LABEL_NAME_MAX_LENGTH)
    taken = Conflict("You already have a label with that name.", code="label_exists", extra={"name": name})
    if _name_taken(Label, user=user, name=name, exclude_id=label.pk):
        raise taken
    label.name = name
    try:
        with transaction.atomic():  # another label renamed to this name at the same moment
            label.save(update_fields=["name"])
    except IntegrityError:
        raise taken from None
    audit_record(actor=user, action="label.rename", target=label)
    user_data_changed(user=user)
    return label


@transaction.atomic
def label_delete(*, user, label_id: int) -> None:
    """Delete a label; its tasks stay, without it."""
    label = Label.objects.select_for_update().filter(owner=user, pk=label_id).first()
    if label is None:
        raise NotFound("Label not found.", code="label_not_found", extra={"label_id": label_id})
    audit_record(actor=user, action="label.delete", target=label)
    user_data_changed(user=user)
    label.delete()


# -- reminders -------------------------------------------------------------------------------


def _reminder_moment(task: Task, reminder: Reminder, zone) -> datetime | None:
    """The reminder's moment in UTC; None without one, or when it falls outside years 1..9999 in UTC.

    Stored in UTC because a moment past 9999-12-31 UTC cannot be stored on SQLite, and on
    PostgreSQL it is stored but can no longer be read back (every later reschedule is a 500).
    """
    if reminder.minutes_before is None:
        moment = reminder.remind_at
    elif task.due_date is None:
        return None
    else:
        try:
            moment = local_moment(task.due_date, task.due_time, zone) - timedelta(minutes=reminder.minutes_before)
        except OverflowError:
            return None
    try:
        return moment.astimezone(UTC) if moment is not None else None
    except OverflowError:
        return None


def _set_reminders(*, user, task: Task, reminders: Sequence[Mapping[str, Any]]) -> None:
    if not isinstance(reminders, (list, tuple)) or len(reminders) > REMINDERS_PER_TASK_MAX:
        raise _fail("reminders", f"Give at most {REMINDERS_PER_TASK_MAX} reminders.")
    zone = user_zone(user)
    task.reminders.all().delete()
    for given in reminders:
        minutes = given.get("minutes_before")
        at = given.get("remind_at")
        if (minutes is None) == (at is None):
            raise _fail("reminders", "Each reminder needs either minutes_before or remind_at.")
        if minutes is not None:
            if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= REMINDER_MINUTES_MAX:
                raise _fail("reminders", f"minutes_before must be a whole number from 0 to {REMINDER_MINUTES_MAX}.")
            if task.due_date is None:
                raise _fail("reminders", "A reminder before the due time needs a due date.")
        if at is not None:
            if not isinstance(at, datetime):
                raise _fail("reminders", "remind_at must be a date and time.")
            if timezone.is_naive(at):
                at = at.replace(tzinfo=zone)
        reminder = Reminder(owner=user, task=task, minutes_before=minutes, remind_at=at)
        reminder.remind_at = _reminder_moment(task, reminder, zone)
        if reminder.remind_at is None:
            raise _fail("reminders", "A reminder must fall between the years 1 and 9999.")
        reminder.save()
        _deliver_on_time(reminder)


def _deliver_on_time(reminder: Reminder) -> None:
    """A reminder due within REMINDER_ON_TIME_SECONDS gets a task of its own at its moment, queued on commit.

    Beat's sweep (every minute) would deliver it up to a minute late; this one runs on the second.
    The sweep stays the safety net (a lost message, a broker down at commit), and whichever of the
    two comes first claims the reminder (reminder_deliver): the other does nothing. The horizon is
    short because a worker holds a message with an ETA unacknowledged until it runs (RabbitMQ's
    consumer_timeout, 30 minutes by default, closes a channel that holds one longer).
    """
    horizon = settings.REMINDER_ON_TIME_SECONDS
    if horizon <= 0 or reminder.remind_at is None or reminder.delivered_at is not None:
        return
    if reminder.remind_at - timezone.now() > timedelta(seconds=horizon):
        return
    transaction.on_commit(lambda pk=reminder.pk, at=reminder.remind_at: _reminder_delivery_publish(pk, at))


def _reminder_delivery_publish(reminder_id: int, at: datetime) -> None:
    # After the commit: a broker failure here cannot undo the write, and must not fail the request
    # (or the chat turn) that made it; the sweep delivers the reminder within a minute instead.
    from kombu.exceptions import KombuError

    from apps.core.outage import broker_outage
    from apps.todos.tasks import reminder_deliver_task

    if broker_outage.is_down():  # a failure moments ago: not another wait of seconds for this write
        logger.info("reminder %s: on-time delivery not queued (broker down); beat's sweep delivers it", reminder_id)
        return
    try:
        reminder_deliver_task.apply_async(args=(reminder_id,), eta=max(at, timezone.now()))
    except (KombuError, OSError) as exc:
        broker_outage.failed(exc)
        logger.warning(
            "reminder %s: on-time delivery not queued (%s); beat's sweep delivers it", reminder_id, type(exc).__name__
        )
    else:
        broker_outage.recovered()


def _reschedule(task: Task, zone) -> None:
    """Relative reminders follow the due date; a moved recurring task re-arms them."""
    for reminder in task.reminders.filter(minutes_before__isnull=False):
        moment = _reminder_moment(task, reminder, zone)
        if moment != reminder.remind_at:
            reminder.remind_at = moment
            reminder.delivered_at = None
            reminder.save(update_fields=["remind_at", "delivered_at"])
            _deliver_on_time(reminder)


def _reschedule_user_reminders(*, user) -> None:
    zone = user_zone(user)
    for task in Task.objects.filter(owner=user, completed=False, reminders__minutes_before__isnull=False).distinct():
        _reschedule(task, zone)


# -- tasks -------------------------------------------------------------------------------------


def _apply_recurrence_default(task: Task, user) -> None:
    if task.recurrence and task.due_date is None:
        now_local = timezone.now().astimezone(user_zone(user)).replace(tzinfo=None)
        start = datetime.combine(now_local.date(), task.due_time or time(0))
        first = first_occurrence(task.recurrence, on_or_after=start)
        if first is not None:
            task.due_date = first.date()


@transaction.atomic
def task_create(
    *,
    user,
    title: str,
    description: str = "",
    priority: str = Task.Priority.NORMAL,
    due_date: date | None = None,
    due_time: time | None = None,
    recurrence: str = "",
    list_id: int | None = None,
    labels: Sequence[str] | None = None,
    reminders: Sequence[Mapping[str, Any]] | None = None,
) -> Task:
    """Add a task to one of the user's lists (the Inbox unless ``list_id`` names another)."""
    task_list = _list_for(user=user, list_id=list_id) if list_id is not None else task_list_inbox(user=user)
    task = Task(
        owner=user,
        task_list=task_list,
        title=title,
        description=description or "",
        priority=priority,
        due_date=due_date,
        due_time=due_time,
        recurrence=recurrence_normalize(recurrence or ""),
    )
    task.priority_rank = PRIORITY_RANKS.get(task.priority, 1)
    _apply_recurrence_default(task, user)
    _validate(task)
    task.save()
    if labels:
        task.labels.set(_labels_for(user=user, names=labels))
    if reminders:
        _set_reminders(user=user, task=task, reminders=reminders)
    audit_record(actor=user, action="task.create", target=task, metadata={"priority": task.priority})
    user_data_changed(user=user)
    return task


@transaction.atomic
def task_create_many(
    *, user, tasks: Sequence[Mapping[str, Any]], on_progress: Callable[[int, int], None] | None = None
) -> list[Task]:
    """Add several tasks at once: all of them, or none when one is not valid (``on_progress(done, total)`` after each)."""
    if not 1 <= len(tasks) <= TASK_CREATE_MANY_MAX:
        raise ValidationFailed(f"Give between 1 and {TASK_CREATE_MANY_MAX} tasks.", extra={"field": "tasks"})
    created = []
    for index, values in enumerate(tasks):
        try:
            created.append(task_create(user=user, **values))
        except ValidationFailed as exc:
            # Name the task, so the caller knows which one to fix; the transaction drops the others.
            raise ValidationFailed(f"Task {index + 1}: {exc.message}", extra={**exc.extra, "index": index}) from exc
        if on_progress is not None:
            on_progress(index + 1, len(tasks))
    return created


@transaction.atomic
def task_update(
    *,
    user,
    task_id: int,
    title: str = _UNSET,
    description: str = _UNSET,
    priority: str = _UNSET,
    due_date: date | None = _UNSET,
    due_time: time | None = _UNSET,
    recurrence: str = _UNSET,
    list_id: int = _UNSET,
    labels: Sequence[str] = _UNSET,
    add_labels: Sequence[str] = _UNSET,
    reminders: Sequence[Mapping[str, Any]] = _UNSET,
) -> Task:
    """Change the given fields of one of the user's tasks; fields left out stay as they are.

    ``labels`` replaces the task's labels; ``add_labels`` adds to them.
    """
    task = _locked_task(user=user, task_id=task_id)
    values = {
        "title": title,
        "description": description,
        "priority": priority,
        "due_date": due_date,
        "due_time": due_time,
        "recurrence": recurrence if recurrence is _UNSET else recurrence_normalize(recurrence or ""),
        "task_list": list_id if list_id is _UNSET else _list_for(user=user, list_id=list_id),
    }
    if due_date is None and due_time is _UNSET:
        values["due_time"] = None  # clearing the date clears the time of day with it
    changed = []
    if add_labels is not _UNSET and add_labels:
        current = [label.name for label in task.labels.all()] if labels is _UNSET else list(labels or [])
        labels = [*current, *add_labels]
    if labels is not _UNSET:
        new_labels = _labels_for(user=user, names=labels or [])
        if {label.pk for label in new_labels} != set(task.labels.values_list("pk", flat=True)):
            task.labels.set(new_labels)
            changed.append("labels")
    for field in _UPDATABLE:
        value = values[field]
        if value is _UNSET:
            continue
        if field == "description" and value is None:
            value = ""
        if getattr(task, field) != value:
            setattr(task, field, value)
            changed.append(field)
    if "priority" in changed:
        task.priority_rank = PRIORITY_RANKS.get(task.priority, 1)
    if "recurrence" in changed:
        _apply_recurrence_default(task, user)
        if "due_date" not in changed:
            changed.append("due_date")
    if reminders is not _UNSET:
        _set_reminders(user=user, task=task, reminders=reminders or [])
        changed.append("reminders")
    if not changed:
        return task
    _validate(task)
    columns = [f for f in changed if f not in ("labels", "reminders")]
    if "priority" in columns:
        columns.append("priority_rank")
    task.save(update_fields=[*columns, "updated_at"])
    if {"due_date", "due_time"} & set(changed) and reminders is _UNSET:
        _reschedule(task, user_zone(user))
    audit_record(actor=user, action="task.update", target=task, metadata={"fields": changed})
    user_data_changed(user=user)
    return task


def _next_due(task: Task, user) -> tuple[date, time | None] | None:
    """A recurring task's next occurrence: after its current one and not before today (wall time)."""
    if not task.recurrence or task.due_date is None:
        return None
    now_local = timezone.now().astimezone(user_zone(user)).replace(tzinfo=None)
    current = datetime.combine(task.due_date, task.due_time or time(0))
    upcoming = next_occurrence(
        task.recurrence, current=current, not_before=datetime.combine(now_local.date(), time(0))
    )
    if upcoming is None:
        return None
    return upcoming.date(), task.due_time


@transaction.atomic
def task_complete(*, user, task_id: int) -> Task:
    """Mark a task done; completing a completed task changes nothing.

    A recurring task records the completion and moves to its next occurrence (it stays the same
    task, pending); when its rule has no further occurrence it is simply done.
    """
    task = _locked_task(user=user, task_id=task_id)
    if task.completed:
        return task
    now = timezone.now()
    TaskCompletion.objects.create(
        owner=user, task=task, completed_at=now, due_date=task.due_date, due_time=task.due_time
    )
    upcoming = _next_due(task, user)
    if upcoming is not None:
        task.due_date, task.due_time = upcoming
        task.save(update_fields=["due_date", "due_time", "updated_at"])
        _reschedule(task, user_zone(user))
        audit_record(
            actor=user, action="task.complete", target=task, metadata={"recurring": True, "next": str(task.due_date)}
        )
        user_data_changed(user=user)
        return task
    task.completed = True
    task.completed_at = now
    task.save(update_fields=["completed", "completed_at", "updated_at"])
    audit_record(actor=user, action="task.complete", target=task)
    user_data_changed(user=user)
    return task


@transaction.atomic
def task_uncomplete(*, user, task_id: int) -> Task:
    """Undo the latest completion: a done task reopens; a recurring task goes back to the occurrence it was on.

    A pending task that has never been completed is left as it is.
    """
    task = _locked_task(user=user, task_id=task_id)
    latest = TaskCompletion.objects.filter(task=task).order_by("-completed_at", "-id").first()
    if task.completed:
        task.completed = False
        task.completed_at = None
        if latest is not None:
            latest.delete()
        task.save(update_fields=["completed", "completed_at", "updated_at"])
        audit_record(actor=user, action="task.uncomplete", target=task)
        user_data_changed(user=user)
        return task
    if not task.recurrence or latest is None:
        return task
    task.due_date, task.due_time = latest.due_date, latest.due_time
    latest.delete()
    task.save(update_fields=["due_date", "due_time", "updated_at"])
    _reschedule(task, user_zone(user))
    audit_record(actor=user, action="task.uncomplete", target=task, metadata={"recurring": True})
    user_data_changed(user=user)
    return task


@transaction.atomic
def task_complete_many(*, user, task_ids: Sequence[int]) -> list[Task]:
    """Complete up to 25 tasks: all of them, or none when one is not found."""
    if not 1 <= len(task_ids) <= TASK_BATCH_MAX:
        raise ValidationFailed(f"Give between 1 and {TASK_BATCH_MAX} task ids.", extra={"field": "task_ids"})
    if len(set(task_ids)) != len(task_ids):
        raise ValidationFailed("Give each task id once.", extra={"field": "task_ids"})
    return [task_complete(user=user, task_id=task_id) for task_id in task_ids]


@transaction.atomic
def task_update_many(*, user, updates: Sequence[Mapping[str, Any]]) -> list[Task]:
    """Update up to 25 tasks (each a mapping with ``task_id`` and the changes): all, or none on an error."""
    if not 1 <= len(updates) <= TASK_BATCH_MAX:
        raise ValidationFailed(f"Give between 1 and {TASK_BATCH_MAX} updates.", extra={"field": "updates"})
    ids = [u.get("task_id") for u in updates]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("Give each task id once.", extra={"field": "updates"})
    done = []
    for index, values in enumerate(updates):
        changes = {k: v for k, v in values.items() if k != "task_id"}
        try:
            done.append(task_update(user=user, task_id=values["task_id"], **changes))
        except (ValidationFailed, NotFound, Conflict) as exc:
            raise type(exc)(f"Update {index + 1}: {exc.message}", code=exc.code, extra={**exc.extra, "index": index}) from exc
    return done


# -- notifications -------------------------------------------------------------------------------


@transaction.atomic
def notifications_mark_read(*, user, notification_ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given); returns how many changed."""
    qs = Notification.objects.filter(owner=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=list(notification_ids)[:100])
    user_data_changed(user=user)
    return qs.update(read_at=timezone.now())


def reminders_deliver_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Deliver every reminder due by ``now`` exactly once; returns how many this run delivered.

    Each reminder is claimed by a conditional UPDATE (``delivered_at IS NULL``), so of two
    overlapping beat runs only one wins a given reminder; the notification's one-to-one link to
    its reminder is the second guard. Reminders of completed tasks are dropped without a message.
    """
    now = now or timezone.now()
    due = list(
        Reminder.objects.filter(delivered_at__isnull=True, remind_at__lte=now)
        .order_by("remind_at", "id")
        .values_list("pk", flat=True)[:batch]
    )
    return sum(reminder_deliver(reminder_id=reminder_id, now=now) for reminder_id in due)


@transaction.atomic
def reminder_deliver(*, reminder_id: int, now: datetime | None = None) -> bool:
    """Deliver one reminder if it is due by ``now`` and nobody delivered it yet; True when this call did.

    Shared by beat's sweep and the on-time task (``_deliver_on_time``): the conditional UPDATE
    claims it (one winner of any race), so a reminder moved later, deleted or already delivered
    is left alone.
    """
    now = now or timezone.now()
    due = Reminder.objects.filter(pk=reminder_id, delivered_at__isnull=True, remind_at__lte=now)
    claimed = due.update(delivered_at=now)
    if not claimed:
        return False  # the other run got it, or it is not due (any more)
    reminder = Reminder.objects.select_related("task", "owner").filter(pk=reminder_id).first()
    if reminder is None or reminder.task.completed:
        return False
    try:
        with transaction.atomic():
            Notification.objects.create(
                owner=reminder.owner,
                reminder=reminder,
                task=reminder.task,
                message=f"Reminder: {reminder.task.title}"[:300],
            )
    except IntegrityError:
        return False
    user_data_changed(user=reminder.owner)  # a new notification
    if TodoSettings.objects.filter(user=reminder.owner, email_reminders=True).exists():
        from apps.todos.tasks import reminder_email_send_task

        transaction.on_commit(lambda pk=reminder.pk: reminder_email_send_task.delay(pk))
    return True


@transaction.atomic
def task_delete(*, user, task_id: int) -> None:
    """Delete one of the user's tasks."""
    task = _locked_task(user=user, task_id=task_id)
    audit_record(actor=user, action="task.delete", target=task, metadata={"title_length": len(task.title)})
    user_data_changed(user=user)
    task.delete()

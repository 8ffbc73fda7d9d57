"""The tasks and notifications pages: thin adapters over the todos services and selectors (htmx optional)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ApplicationError, NotFound, ValidationFailed
from apps.core.ids import parse_object_id
from apps.todos.models import LIST_NAME_MAX_LENGTH, TITLE_MAX_LENGTH, Task
from apps.todos.selectors import (
    label_all,
    notification_list,
    task_get,
    task_list_all,
    task_overview,
    task_page,
    task_view,
)
from apps.todos.services import (
    notifications_mark_read,
    task_complete,
    task_create,
    task_delete,
    task_list_create,
    task_uncomplete,
    task_update,
    todo_settings_get,
    todo_settings_update,
)

VIEW_TABS = [
    ("today", "Today"),
    ("upcoming", "Upcoming"),
    ("overdue", "Overdue"),
    ("no_date", "No date"),
    ("all", "All"),
    ("completed", "Completed"),
]
PAGE_SIZE = 50
REPEAT_CHOICES = [
    ("", "Does not repeat"),
    ("FREQ=DAILY", "Every day"),
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Every weekday"),
    ("FREQ=WEEKLY", "Every week"),
    ("FREQ=MONTHLY", "Every month"),
    ("FREQ=YEARLY", "Every year"),
]


class TaskForm(forms.Form):
    title = forms.CharField(label="Task", max_length=TITLE_MAX_LENGTH, strip=False)
    list_id = forms.TypedChoiceField(label="List", coerce=int, required=False, empty_value=None)
    due_date = forms.DateField(label="Due date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    due_time = forms.TimeField(label="Time", required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    labels = forms.CharField(label="Labels (comma-separated)", required=False, max_length=500)
    priority = forms.ChoiceField(label="Priority", choices=Task.Priority.choices, initial="normal")
    recurrence = forms.ChoiceField(label="Repeat", choices=REPEAT_CHOICES, required=False)

    def __init__(self, *args, lists=(), prefix_id: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["list_id"].choices = [(tl.pk, tl.name) for tl in lists]
        if prefix_id:
            for name, field in self.fields.items():
                field.widget.attrs["id"] = f"{prefix_id}-{name}"

    def service_values(self) -> dict:
        data = dict(self.cleaned_data)
        data["labels"] = [part.strip() for part in (data.get("labels") or "").split(",") if part.strip()]
        data["recurrence"] = data.get("recurrence") or ""
        if data.get("list_id") is None:
            data.pop("list_id", None)
        return data


class ListForm(forms.Form):
    name = forms.CharField(label="New list", max_length=LIST_NAME_MAX_LENGTH)


class SettingsForm(forms.Form):
    time_zone = forms.CharField(label="Time zone", required=False, max_length=64)
    email_reminders = forms.BooleanField(label="Email me reminders", required=False)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _id(raw: str, field: str) -> int:
    try:
        return parse_object_id(raw, field=field)
    except ValidationFailed:
        raise Http404 from None


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) and target.startswith("/tasks/"):
        return target
    return reverse("web:tasks")


def _int_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name) or ""
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


def _form_errors(form: forms.Form) -> str:
    return "; ".join(f"{form.fields[name].label if name in form.fields else ''}: {' '.join(errs)}".lstrip(": ") for name, errs in form.errors.items())


@login_required
@require_http_methods(["GET", "POST"])
def tasks_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    lists = list(task_list_all(user=user))
    view = request.GET.get("view") or "today"
    if view not in dict(VIEW_TABS):
        view = "today"
    list_id, label_id = _int_param(request, "list"), _int_param(request, "label")
    search = (request.GET.get("q") or "").strip()[:200]
    status = 200
    form = TaskForm(lists=lists, initial={"list_id": list_id or lists[0].pk, "priority": "normal"}, prefix_id="add")
    if request.method == "POST":
        form = TaskForm(request.POST, lists=lists, prefix_id="add")
        if form.is_valid():
            try:
                task = task_create(user=user, **form.service_values())
            except ApplicationError as exc:
                messages.error(request, exc.message)
                status = exc.status_code
            else:
                messages.success(request, f"Added “{task.title}”.")
                return redirect(_back(request))
        else:
            messages.error(request, _form_errors(form))
            status = 400
    try:
        offset = min(max(int(request.GET.get("offset") or 0), 0), 10_000)
    except ValueError:
        offset = 0
    rows, more = task_page(
        task_view(user=user, view=view, list_id=list_id, label_id=label_id, search=search or None, days=30),
        limit=PAGE_SIZE,
        offset=offset,
    )
    query = {k: v for k, v in {"view": view, "list": list_id or "", "label": label_id or "", "q": search}.items() if v}
    here = reverse("web:tasks") + ("?" + urlencode(query) if query else "")
    overview = task_overview(user=user)
    context = {
        "active": "tasks",
        "tabs": [
            {"key": key, "name": name, "url": reverse("web:tasks") + "?" + urlencode({**query, "view": key}), "current": key == view}
            for key, name in VIEW_TABS
        ],
        "view": view,
        "view_name": dict(VIEW_TABS)[view],
        "tasks": rows,
        "next_url": here + ("&" if query else "?") + urlencode({"offset": offset + PAGE_SIZE}) if more else "",
        "here": here,
        "form": form,
        "list_form": ListForm(),
        "lists": [{**row, "current": row["id"] == list_id} for row in overview["lists"]],
        "labels": [{"id": lb.pk, "name": lb.name, "current": lb.pk == label_id} for lb in label_all(user=user)[:200]],
        "search": search,
        "edit_id": _int_param(request, "edit"),
        "settings_form": SettingsForm(initial=_settings_initial(user)),
        "list_names": {tl.pk: tl.name for tl in lists},
        "_lists": lists,
    }
    context["rows"] = [_row_context(task, context) for task in rows]
    return render(request, "todos/tasks.html", context, status=status)


def _settings_initial(user) -> dict:
    current = todo_settings_get(user=user)
    return {"time_zone": current.time_zone, "email_reminders": current.email_reminders}


def _edit_form(task: Task, lists) -> TaskForm:
    return TaskForm(
        lists=lists,
        prefix_id=f"edit-{task.pk}",
        initial={
            "title": task.title,
            "list_id": task.task_list_id,
            "due_date": task.due_date,
            "due_time": task.due_time,
            "labels": ", ".join(sorted(label.name for label in task.labels.all())),
            "priority": task.priority,
            "recurrence": task.recurrence if task.recurrence in dict(REPEAT_CHOICES) else "",
        },
    )


def _row_context(task: Task, context: dict) -> dict:
    editing = context.get("edit_id") == task.pk
    return {
        "task": task,
        "labels": sorted(label.name for label in task.labels.all()),
        "list_name": context["list_names"].get(task.task_list_id, ""),
        "editing": editing,
        "edit_form": _edit_form(task, context["_lists"]) if editing else None,
    }


def _render_row(request: HttpRequest, task: Task, *, editing: bool = False) -> HttpResponse:
    lists = list(task_list_all(user=request.user))
    row = {
        "task": task,
        "labels": sorted(label.name for label in task.labels.all()),
        "list_name": next((tl.name for tl in lists if tl.pk == task.task_list_id), ""),
        "editing": editing,
        "edit_form": _edit_form(task, lists) if editing else None,
    }
    return render(request, "todos/_task_row.html", {"row": row, "here": _back(request)})


@login_required
@require_POST
def task_toggle(request: HttpRequest, task_id: str) -> HttpResponse:
    pk = _id(task_id, "task_id")
    try:
        task = task_get(user=request.user, task_id=pk)
        task = (task_uncomplete if task.completed else task_complete)(user=request.user, task_id=pk)
    except NotFound:
        raise Http404 from None
    if _is_htmx(request):
        return _render_row(request, task)
    messages.success(request, f"“{task.title}” {'done' if task.completed else 'moved on' if task.recurrence else 'reopened'}.")
    return redirect(_back(request))


@login_required
@require_http_methods(["GET", "POST"])
def task_edit(request: HttpRequest, task_id: str) -> HttpResponse:
    pk = _id(task_id, "task_id")
    try:
        task = task_get(user=request.user, task_id=pk)
    except NotFound:
        raise Http404 from None
    if request.method == "GET":
        if _is_htmx(request):
            return _render_row(request, task, editing=True)
        return redirect(_back(request) + ("&" if "?" in _back(request) else "?") + f"edit={task.pk}")
    lists = list(task_list_all(user=request.user))
    form = TaskForm(request.POST, lists=lists, prefix_id=f"edit-{task.pk}")
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect(_back(request))
    values = form.service_values()
    if "list_id" not in values:
        values["list_id"] = task.task_list_id
    if values.get("recurrence") == "" and task.recurrence and task.recurrence not in dict(REPEAT_CHOICES):
        values.pop("recurrence")  # a rule made elsewhere (API, chat) stays unless a preset replaces it
    try:
        task = task_update(user=request.user, task_id=pk, **values)
    except NotFound:
        raise Http404 from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_back(request))
    if _is_htmx(request):
        return _render_row(request, task)
    messages.success(request, f"Saved “{task.title}”.")
    return redirect(_back(request))


@login_required
@require_http_methods(["GET", "POST"])
def task_delete_page(request: HttpRequest, task_id: str) -> HttpResponse:
    pk = _id(task_id, "task_id")
    try:
        task = task_get(user=request.user, task_id=pk)
    except NotFound:
        raise Http404 from None
    if request.method == "POST":
        task_delete(user=request.user, task_id=pk)
        messages.success(request, f"Deleted “{task.title}”.")
        return redirect(_back(request))
    return render(request, "todos/task_confirm_delete.html", {"task": task, "active": "tasks", "here": _back(request)})


@login_required
@require_POST
def list_add(request: HttpRequest) -> HttpResponse:
    form = ListForm(request.POST)
    if form.is_valid():
        try:
            created = task_list_create(user=request.user, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"List “{created.name}” added.")
            return redirect(reverse("web:tasks") + f"?view=all&list={created.pk}")
    else:
        messages.error(request, _form_errors(form))
    return redirect("web:tasks")


@login_required
@require_POST
def todo_settings_save(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(request.POST)
    if form.is_valid():
        try:
            todo_settings_update(user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Settings saved.")
    return redirect("web:tasks")


@login_required
@require_http_methods(["GET", "POST"])
def notifications_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        raw = request.POST.get("id") or ""
        ids = [int(raw)] if raw.isdigit() and int(raw) < 2**63 else None
        notifications_mark_read(user=request.user, notification_ids=ids)
        return redirect("web:notifications")
    items = list(notification_list(user=request.user)[:100])
    return render(request, "todos/notifications.html", {"items": items, "active": "notifications"})

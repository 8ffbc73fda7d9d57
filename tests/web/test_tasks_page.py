"""The tasks page without JavaScript (plain forms and redirects), htmx fragments, the bell, and isolation."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.todos.models import Notification, Task
from apps.todos.services import reminders_deliver_due, task_create, task_list_create
from tests.web.a11y import accessibility_problems


def test_tasks_page_is_in_the_nav_and_passes_the_a11y_check(page_a):
    response = page_a.get("/tasks/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'href="/tasks/"' in html and "Nothing here." in html
    assert accessibility_problems(html) == []
    assert "<script>" not in html.replace('<script src=', '')


def test_quick_add_complete_and_find_it_under_completed_without_js(page_a, user_a):
    shopping = task_list_create(user=user_a, name="Shopping")
    today = timezone.localdate().isoformat()
    response = page_a.post(
        "/tasks/?view=today",
        {"title": "buy milk", "list_id": shopping.pk, "due_date": today, "due_time": "", "labels": "urgent, dairy",
         "priority": "normal", "recurrence": "", "next": "/tasks/?view=today"},
    )
    assert response.status_code == 302 and response["Location"] == "/tasks/?view=today"
    task = Task.objects.get(owner=user_a, title="buy milk")
    assert task.task_list == shopping and sorted(task.labels.values_list("name", flat=True)) == ["dairy", "urgent"]
    row = '<span class="task-title">buy milk</span>'
    assert row in page_a.get("/tasks/?view=today").content.decode()
    assert page_a.post(f"/tasks/{task.pk}/toggle/", {"next": "/tasks/?view=today"}).status_code == 302
    assert row not in page_a.get("/tasks/?view=today").content.decode()
    completed = page_a.get("/tasks/?view=completed").content.decode()
    assert row in completed and accessibility_problems(completed) == []


def test_htmx_toggle_and_edit_return_the_row(page_a, user_a):
    task = task_create(user=user_a, title="water plants")
    row = page_a.post(f"/tasks/{task.pk}/toggle/", {"next": "/tasks/"}, HTTP_HX_REQUEST="true").content.decode()
    assert row.strip().startswith("<li") and "Reopen" in row
    form = page_a.get(f"/tasks/{task.pk}/edit/?next=/tasks/", HTTP_HX_REQUEST="true").content.decode()
    assert 'name="title"' in form and accessibility_problems(form) == []
    saved = page_a.post(
        f"/tasks/{task.pk}/edit/", {"title": "water all plants", "priority": "high", "labels": "", "recurrence": "", "next": "/tasks/"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "water all plants" in saved


def test_delete_asks_first(page_a, user_a):
    task = task_create(user=user_a, title="old thing")
    confirm = page_a.get(f"/tasks/{task.pk}/delete/").content.decode()
    assert "Delete this task?" in confirm and Task.objects.filter(pk=task.pk).exists()
    page_a.post(f"/tasks/{task.pk}/delete/", {"next": "/tasks/"})
    assert not Task.objects.filter(pk=task.pk).exists()


def test_open_redirect_is_refused(page_a, user_a):
    task = task_create(user=user_a, title="x")
    response = page_a.post(f"/tasks/{task.pk}/toggle/", {"next": "https://evil.example/"})
    assert response["Location"] == "/tasks/"


def test_bell_shows_unread_count_on_every_page_and_mark_read(page_a, user_a):
    task_create(user=user_a, title="call mum", reminders=[{"remind_at": timezone.now() - timedelta(minutes=1)}])
    reminders_deliver_due()
    for path in ("/tasks/", "/chat/", "/usage/"):
        html = page_a.get(path).content.decode()
        assert 'id="bell"' in html and '1<span class="visually-hidden"> unread' in html
    listing = page_a.get("/notifications/").content.decode()
    assert "Reminder: call mum" in listing and accessibility_problems(listing) == []
    page_a.post("/notifications/", {})
    assert not Notification.objects.filter(owner=user_a, read_at__isnull=True).exists()


def test_another_users_task_is_a_404_on_every_task_page(page_a, user_b):
    theirs = task_create(user=user_b, title="b's secret")
    for method, path in [("post", "toggle/"), ("get", "edit/"), ("post", "edit/"), ("get", "delete/"), ("post", "delete/")]:
        response = getattr(page_a, method)(f"/tasks/{theirs.pk}/{path}", {"title": "x", "priority": "low"} if method == "post" else None)
        assert response.status_code == 404, (method, path)
    b_list = task_list_create(user=user_b, name="B list")
    assert "b&#x27;s secret" not in page_a.get(f"/tasks/?view=all&list={b_list.pk}").content.decode()
    assert "B list" not in page_a.get("/tasks/").content.decode()
    theirs.refresh_from_db()
    assert theirs.title == "b's secret" and not theirs.completed


def test_bad_input_is_a_message_not_a_500(page_a):
    response = page_a.post("/tasks/", {"title": "", "priority": "nope", "next": "/tasks/"})
    assert response.status_code == 400
    assert page_a.get("/tasks/?view=bogus&list=abc&offset=zz").status_code == 200

"""The task REST API: happy paths, filters, pagination, isolation between users, bad input."""

from __future__ import annotations

import json
from datetime import date

import pytest

from apps.audit.models import AuditEvent
from apps.todos.models import Task
from tests.factories import make_task

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tasks/"


def detail(task_id) -> str:
    return f"/api/v1/tasks/{task_id}/"


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "extra"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


# --- happy paths ---------------------------------------------------------------------------


def test_creating_a_task_returns_it_with_defaults(client_a, user_a):
    response = client_a.post(LIST, {"title": "  buy milk  "}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "buy milk"
    assert body["priority"] == "normal"
    assert body["completed"] is False and body["completed_at"] is None
    assert Task.objects.get(pk=body["id"]).owner == user_a


def test_creating_a_task_with_every_field(client_a):
    payload = {"title": "report", "description": "quarterly", "priority": "high", "due_date": "2026-12-01"}
    body = client_a.post(LIST, payload, format="json").json()
    assert {k: body[k] for k in payload} == payload


def test_retrieving_updating_and_deleting_a_task(client_a, user_a):
    task = make_task(user_a, title="old", description="keep me")

    assert client_a.get(detail(task.pk)).json()["title"] == "old"

    patched = client_a.patch(detail(task.pk), {"priority": "low"}, format="json").json()
    assert patched["priority"] == "low" and patched["description"] == "keep me" and patched["title"] == "old"

    put = client_a.put(detail(task.pk), {"title": "new"}, format="json").json()
    assert put["title"] == "new" and put["description"] == "" and put["priority"] == "normal"

    assert client_a.delete(detail(task.pk)).status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()


def test_completing_a_task_twice_is_idempotent(client_a, user_a):
    task = make_task(user_a)

    first = client_a.post(f"{detail(task.pk)}complete/").json()
    second = client_a.post(f"{detail(task.pk)}complete/").json()

    assert first["completed"] is True and first["completed_at"]
    assert second["completed_at"] == first["completed_at"]
    assert AuditEvent.objects.filter(action="task.complete", target_id=str(task.pk)).count() == 1


def test_uncompleting_clears_the_completion_time(client_a, user_a):
    task = make_task(user_a)
    client_a.post(f"{detail(task.pk)}complete/")

    body = client_a.post(f"{detail(task.pk)}uncomplete/").json()

    assert body["completed"] is False and body["completed_at"] is None


# --- filters and pagination ----------------------------------------------------------------


@pytest.fixture
def some_tasks(user_a):
    milk = make_task(user_a, title="buy milk", due_date=date(2026, 12, 1), priority="high")
    report = make_task(user_a, title="write report", description="about milk prices", due_date=date(2026, 12, 10))
    call = make_task(user_a, title="call mom", priority="low")
    Task.objects.filter(pk=call.pk).update(completed=True, completed_at="2026-11-01T10:00:00Z")
    return {"milk": milk, "report": report, "call": call}


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [t["title"] for t in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"buy milk", "write report", "call mom"}),
        ("?status=pending", {"buy milk", "write report"}),
        ("?status=completed", {"call mom"}),
        ("?search=MILK", {"buy milk", "write report"}),
        ("?due_before=2026-12-05", {"buy milk"}),
        ("?due_after=2026-12-05", {"write report"}),
        ("?due_after=2026-12-01&due_before=2026-12-10", {"buy milk", "write report"}),
        ("?status=pending&search=report", {"write report"}),
    ],
)
def test_list_filters(client_a, some_tasks, query, expected):
    assert set(titles(client_a.get(LIST + query))) == expected


def test_list_ordering_by_priority(client_a, some_tasks):
    assert titles(client_a.get(LIST + "?ordering=-priority")) == ["buy milk", "write report", "call mom"]


def test_list_pagination(client_a, user_a):
    for i in range(25):
        make_task(user_a, title=f"t{i:02d}")

    first = client_a.get(LIST).json()
    assert first["count"] == 25 and len(first["results"]) == 20 and first["next"]

    page = client_a.get(LIST + "?limit=10&offset=20&ordering=title").json()
    assert [t["title"] for t in page["results"]] == ["t20", "t21", "t22", "t23", "t24"]
    assert page["next"] is None and page["previous"]


def test_list_never_shows_another_users_tasks(client_a, client_b, user_a):
    make_task(user_a, title="alice's")
    assert client_b.get(LIST).json()["count"] == 0


# --- isolation: user B gets 404 for each of user A's tasks on every method -----------------

CROSS_USER_CALLS = [
    ("get", "", None),
    ("put", "", {"title": "stolen"}),
    ("patch", "", {"title": "stolen"}),
    ("delete", "", None),
    ("post", "complete/", None),
    ("post", "uncomplete/", None),
]


@pytest.mark.parametrize(("method", "suffix", "payload"), CROSS_USER_CALLS)
def test_another_users_task_is_not_found_on_every_method(client_b, user_a, method, suffix, payload):
    task = make_task(user_a, title="alice's")

    response = getattr(client_b, method)(detail(task.pk) + suffix, payload, format="json")

    assert_error_shape(response, 404, "task_not_found")
    task.refresh_from_db()
    assert task.title == "alice's" and task.completed is False


@pytest.mark.parametrize(("method", "suffix", "payload"), CROSS_USER_CALLS)
def test_unknown_task_id_is_not_found(client_a, method, suffix, payload):
    response = getattr(client_a, method)(detail(999999) + suffix, payload, format="json")
    assert_error_shape(response, 404, "task_not_found")


# --- bad input: 400 with the error shape, never 500 -----------------------------------------

BAD_CREATE_PAYLOADS = [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 10_000}, "title"),
    ({"title": "x" * 201}, "title"),
    ({}, "title"),
    ({"title": 123}, "title"),
    ({"title": True}, "title"),
    ({"title": ["a"]}, "title"),
    ({"title": {"a": 1}}, "title"),
    ({"title": None}, "title"),
    ({"title": "ok", "priority": "urgent"}, "priority"),
    ({"title": "ok", "priority": 3}, "priority"),
    ({"title": "ok", "priority": None}, "priority"),
    ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
    ({"title": "ok", "due_date": "2026-02-30"}, "due_date"),
    ({"title": "ok", "description": "d" * 5001}, "description"),
    ({"title": "ok", "description": 5}, "description"),
    ({"title": "ok", "due_date": 20261201}, "due_date"),
    ({"title": "ok", "due_date": "0001-01-01", "reminders": [{"minutes_before": 600}]}, "reminders"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_CREATE_PAYLOADS)
def test_bad_task_input_is_a_400_naming_the_field(client_a, payload, field):
    response = client_a.post(LIST, payload, format="json")
    error = assert_error_shape(response, 400, "validation_error")
    assert field in error["extra"]["fields"]
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    ['{"title": ', "not json at all", '["a list"]', "null", '"just a string"', "\xff\xfe"],
)
def test_malformed_json_is_a_400(client_a, body):
    response = client_a.generic("POST", LIST, body.encode("utf-8", "surrogateescape"), content_type="application/json")
    assert_error_shape(response, 400)
    assert Task.objects.count() == 0


def test_wrong_content_type_is_a_415(client_a):
    response = client_a.generic("POST", LIST, "title=x", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415)


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "-1", "0", "99999999999999999999999", "١٢"])
@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("patch", ""), ("delete", ""), ("post", "complete/")])
def test_non_numeric_or_out_of_range_ids_are_a_400(client_a, bad_id, method, suffix):
    response = getattr(client_a, method)(detail(bad_id) + suffix, {}, format="json")
    error = assert_error_shape(response, 400, "validation_error")
    assert error["extra"]["field"] == "task_id"


@pytest.mark.parametrize(
    "query",
    [
        "?status=done", "?due_before=soon", "?limit=0", "?limit=abc", "?offset=-1", "?ordering=owner", "?limit=1000",
        "?offset=0.0", "?limit= 5", "?offset=1&offset=2", "?status=all&status=pending",
    ],
)
def test_bad_list_parameters_are_a_400(client_a, query):
    assert_error_shape(client_a.get(LIST + query), 400, "validation_error")


def test_oversized_body_is_refused_not_crashed(client_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_a.post(LIST, {"title": "x", "description": "y" * 5000}, format="json")
    assert 400 <= response.status_code < 500
    assert Task.objects.count() == 0


def test_method_not_allowed_has_the_error_shape(client_a, user_a):
    task = make_task(user_a)
    assert_error_shape(client_a.put(LIST, {}, format="json"), 405, "method_not_allowed")
    assert_error_shape(client_a.get(f"{detail(task.pk)}complete/"), 405, "method_not_allowed")


def test_unknown_api_path_is_a_json_404(client_a):
    assert_error_shape(client_a.get("/api/v1/nothing-here/"), 404, "not_found")


# --- authentication ------------------------------------------------------------------------


def test_no_credentials_is_a_401_with_bearer_challenge(anon_client):
    response = anon_client.get(LIST)
    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_session_login_works_and_enforces_csrf(user_a):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user_a)
    assert client.get(LIST).status_code == 200
    response = client.post(LIST, {"title": "x"}, format="json")
    assert_error_shape(response, 403)
    assert Task.objects.count() == 0


def test_partial_update_with_json_null_description_clears_it(client_a, user_a):
    task = make_task(user_a, description="something")
    response = client_a.patch(detail(task.pk), json.dumps({"description": ""}), content_type="application/json")
    assert response.json()["description"] == ""

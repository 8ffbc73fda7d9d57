"""Checks over every page the site renders: labels and alt text, and CSRF on every form."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from apps.web import urls as web_urls
from tests.web.a11y import accessibility_problems
from tests.web.conftest import make_conversation, make_key

# Web routes that only take POSTs (their forms are checked where they appear).
POST_ONLY = {
    "web:logout",
    "web:key-validate",
    "web:chat-send",
    "web:chat-provider",
    "web:task-toggle",
    "web:list-add",
    "web:todo-settings",
    "web:connection-revoke",
}


def _pages(user) -> dict[str, str]:
    """Every page route of the web app, plus home and an error page, with a path to render it."""
    key = make_key(user, label="a key")
    conversation_id = make_conversation(user)
    from apps.todos.services import task_create
    from tests.oauth.test_connections import _connect

    task = task_create(user=user, title="a task", labels=["home"])
    _connect(user, "An MCP client")  # so the page shows a row and its revoke form
    return {
        "web:tasks": "/tasks/",
        "web:task-edit": f"/tasks/{task.pk}/edit/",  # outside htmx: the page with the row's edit form
        "web:task-delete": f"/tasks/{task.pk}/delete/",
        "web:notifications": "/notifications/",
        "web:chat": "/chat/",
        "web:chat-detail": f"/chat/{conversation_id}/",
        "web:chat-delete": f"/chat/{conversation_id}/delete/",
        "web:usage": "/usage/",
        "home": "/",
        "web:login": "/accounts/login/",
        "web:key-list": "/settings/keys/",
        "web:key-delete": f"/settings/keys/{key.pk}/delete/",
        "web:key-row": f"/settings/keys/{key.pk}/row/",  # outside htmx: back to the list
        "web:connections": "/settings/connections/",
        "404": "/no-such-page/",
    }


def test_every_web_route_is_covered_by_these_checks(user_a):
    names = {f"web:{p.name}" for p in web_urls.urlpatterns}
    assert names <= set(_pages(user_a)) | POST_ONLY, "add the new page to _pages()"


def _rendered_pages(user) -> list[tuple[str, str]]:
    anon, signed_in = Client(), Client()
    signed_in.force_login(user)
    rendered = [("anonymous /accounts/login/", anon.get("/accounts/login/").content.decode())]
    rendered.append(("anonymous /", anon.get("/").content.decode()))
    for name, path in _pages(user).items():
        response = signed_in.get(path, follow=True)
        assert response.status_code == (404 if name == "404" else 200), path
        rendered.append((path, response.content.decode()))
    # A form showing its errors is a different page as far as labels are concerned.
    errors = signed_in.post("/settings/keys/", {"provider": "", "key": "x"})
    rendered.append(("/settings/keys/ with errors", errors.content.decode()))
    rendered.append(("/chat/ with errors", signed_in.post("/chat/send/", {"message": "  "}).content.decode()))
    login_error = anon.post("/accounts/login/", {"username": "nobody", "password": "wrong"})
    rendered.append(("/accounts/login/ with errors", login_error.content.decode()))
    return rendered


def test_no_page_has_an_unlabelled_control_or_an_image_without_alt(user_a):
    found = {where: problems for where, html in _rendered_pages(user_a) if (problems := accessibility_problems(html))}
    assert found == {}


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "action": a.get("action"), "token": False})
        elif tag == "input" and a.get("name") == "csrfmiddlewaretoken" and self.forms:
            self.forms[-1]["token"] = True


def test_every_post_form_carries_a_csrf_token_and_is_refused_without_it(user_a):
    post_forms = set()
    for where, html in _rendered_pages(user_a):
        parser = _Forms()
        parser.feed(html)
        for form in parser.forms:
            if form["method"] == "post":
                assert form["token"], f"a POST form on {where} has no CSRF token"
                assert form["action"], f"a POST form on {where} has no explicit action"
                post_forms.add(form["action"])
    assert {"/accounts/login/", "/accounts/logout/", "/settings/keys/"} <= post_forms
    assert any(re.fullmatch(r"/settings/keys/\d+/validate/", a) for a in post_forms)
    assert any(re.fullmatch(r"/settings/keys/\d+/delete/", a) for a in post_forms)
    assert {"/chat/send/", "/chat/provider/"} <= post_forms
    assert any(re.fullmatch(r"/chat/\d+/delete/", a) for a in post_forms)

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user_a)
    for action in sorted(post_forms):
        response = strict.post(
            action, {"provider": "openai", "key": "sk-test-key-0000", "username": "x", "message": "add x", "choice": "offline:offline-rules"}
        )
        assert response.status_code == 403, action


@pytest.mark.django_db
def test_a_post_without_the_token_is_refused_even_for_htmx_requests(user_a):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user_a)
    key = make_key(user_a)
    response = strict.post(f"/settings/keys/{key.pk}/validate/", headers={"HX-Request": "true"})
    assert response.status_code == 403

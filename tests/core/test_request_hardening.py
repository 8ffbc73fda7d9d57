"""Hostile request bodies and Django's own error pages: every /api/ answer keeps the JSON error shape."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import path

from apps.core.parsers import json_depth

DEEP = '{"title": ' + "[" * 1000 + "]" * 1000 + "}"  # about 2 KB, nested 1,000 levels
JSON_ENDPOINTS = [
    ("post", "/api/v1/tasks/"),
    ("post", "/api/v1/keys/"),
    ("post", "/api/v1/chat/"),
    ("put", "/api/v1/preferences/"),
]


def _assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "extra"}
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_deeply_nested_json_is_a_400_on_every_json_endpoint(client_a, method, url):
    response = getattr(client_a, method)(url, data=DEEP, content_type="application/json")
    error = _assert_error_shape(response, 400, "parse_error")
    assert "nested deeper than" in error["message"]


@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_a_number_too_long_to_decode_is_a_400_that_names_no_python_internals(client_a, method, url):
    response = getattr(client_a, method)(url, data='{"title": ' + "9" * 5000 + "}", content_type="application/json")
    error = _assert_error_shape(response, 400, "parse_error")
    assert "too many digits" in error["message"]
    assert "sys." not in error["message"] and "int_max_str_digits" not in error["message"]


@pytest.mark.django_db
def test_nesting_at_the_limit_is_parsed_one_level_more_is_refused(client_a, settings):
    settings.API_JSON_MAX_DEPTH = 4
    at_limit, over = '{"title": "x", "a": [[{"b": 1}]]}', '{"title": "x", "a": [[[{"b": 1}]]]}'
    ok = client_a.post("/api/v1/tasks/", data=at_limit, content_type="application/json")
    assert ok.status_code == 201, ok.content  # depth 4: unknown fields are ignored
    refused = client_a.post("/api/v1/tasks/", data=over, content_type="application/json")
    _assert_error_shape(refused, 400, "parse_error")


def test_brackets_inside_strings_are_not_nesting():
    assert json_depth(b'{"title": "[[[[{{{{\\"]]]]"}') == 1
    assert json_depth(b'[{"a": [1, {"b": "}"}]}]') == 4
    assert json_depth(b'"scalar"') == 0 and json_depth(b"") == 0


@pytest.mark.parametrize(("method", "url"), JSON_ENDPOINTS)
def test_a_2_mb_body_is_a_413_with_the_error_shape(client_a, method, url):
    body = '{"title": "' + "x" * 2_000_000 + '"}'
    response = getattr(client_a, method)(url, data=body, content_type="application/json")
    _assert_error_shape(response, 413, "request_too_large")


def _boom(request):
    raise RuntimeError("an unexpected bug")


urlpatterns = [path("api/v1/boom/", _boom)]


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_with_debug_on_an_unknown_api_path_is_a_json_404():
    _assert_error_shape(Client().get("/api/v1/no-such-thing/"), 404, "not_found")


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_with_debug_on_an_api_crash_is_a_json_500_not_the_debug_page(client_a):
    from django.urls import clear_url_caches, include
    from django.urls import path as url_path

    import config.urls

    patched = [url_path("", include(__name__)), *config.urls.urlpatterns]
    with override_settings(ROOT_URLCONF=type("Urls", (), {"urlpatterns": patched})):
        clear_url_caches()
        response = Client(raise_request_exception=False).get("/api/v1/boom/")
    clear_url_caches()
    error = _assert_error_shape(response, 500, "server_error")
    assert "an unexpected bug" not in response.content.decode()
    assert error["message"] == "Internal server error."


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_with_debug_on_pages_keep_django_debug_pages():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_2_mb_form_post_to_the_chat_page_is_a_413_not_a_400(user_a):
    client = Client()
    client.force_login(user_a)
    response = client.post("/chat/send/", data={"message": "x" * 2_000_000})
    assert response.status_code == 413

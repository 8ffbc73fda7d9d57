"""In a real browser: /api/docs/ (Swagger UI) and /api/redoc/ (ReDoc) render the API's operations
with every request answered by this server; a request to any other host fails the test."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL_HOSTS = {"127.0.0.1"}


@pytest.fixture
def outside_requests(page) -> list[str]:
    """Every request leaving 127.0.0.1 is recorded and aborted (as it would fail on a machine offline)."""
    seen: list[str] = []

    def guard(route):
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            seen.append(url)
            route.abort()

    page.context.route("**/*", guard)
    return seen


def _local_requests(page) -> list[str]:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    return requested


# (Slashes escaped: Playwright passes the pattern on as a JavaScript regex literal.)
def test_swagger_ui_renders_the_operations_from_local_assets_only(page, outside_requests):
    requested = _local_requests(page)
    page.goto("/api/docs/")
    tasks_list = page.get_by_role("button", name=re.compile(r"^GET \/api\/v1\/tasks\/ "))
    expect(tasks_list).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^POST \/api\/v1\/tasks\/\S+\/complete\/ "))).to_be_visible()
    # Opening an operation shows its details (Swagger UI is really running, not just its HTML).
    tasks_list.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    screenshot(page, "api-docs-swagger")
    assert outside_requests == []
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in requested)
    assert any(url.endswith("/api/schema/") for url in requested)


def test_redoc_renders_the_operations_from_local_assets_only(page, outside_requests):
    requested = _local_requests(page)
    page.goto("/api/redoc/")
    expect(page.get_by_role("heading", name="Todo Assistant API").first).to_be_visible()
    expect(page.locator("[role=menuitem]", has_text="tasks").first).to_be_visible()
    expect(page.locator("h2", has_text="tasks_list").or_(page.get_by_text("/api/v1/tasks/").first).first).to_be_attached()
    screenshot(page, "api-docs-redoc")
    assert outside_requests == []
    assert any("/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in url for url in requested)


def test_the_guard_fails_the_page_that_loads_swagger_ui_from_a_cdn(page, outside_requests, monkeypatch):
    """The check above is only worth something if it sees outside requests: drf-spectacular's
    default (Swagger UI from jsDelivr) is caught, and the page stays blank without the network."""
    from drf_spectacular.settings import spectacular_settings

    monkeypatch.setattr(spectacular_settings, "SWAGGER_UI_DIST", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@latest")
    page.goto("/api/docs/")
    page.wait_for_load_state("load")
    bundle = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@latest/swagger-ui-bundle.js"
    # Caught by the guard, or refused earlier by the page's Content-Security-Policy (script-src 'self').
    assert bundle in outside_requests or any(bundle in text for text in page.csp_refusals)
    expect(page.locator(".opblock")).to_have_count(0)

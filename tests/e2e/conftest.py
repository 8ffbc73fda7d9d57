"""Browser tests: the real ASGI app under uvicorn in a thread, driven by Debian's Chromium through Playwright.

One browser for the whole e2e package; each test gets its own server (on a free port) and a
fresh browser context. Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import REQUIRE_SERVICES

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """Chromium, started once for every browser test.

    Package scope rather than session scope, on purpose: Playwright's sync API keeps an asyncio
    loop marked as running in this thread while it is started, which makes Django refuse ORM
    calls here (SynchronousOnlyOperation). The browser tests allow that for their duration
    only; stopping Playwright when the package ends restores Django's check for every other test.
    """
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run browser tests"
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live_url(transactional_db) -> Iterator[str]:
    """The project's root ASGI app (config.asgi:application) served by uvicorn on a free port.

    transactional_db: the server thread has its own database connection, so the data a test
    makes must be committed for it to see (and the tables are flushed afterwards).
    """
    import uvicorn

    from config.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(application, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-e2e", daemon=True)
    thread.start()
    for _ in range(200):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.05)
    if not server.started:
        server.should_exit = True
        pytest.fail("uvicorn did not start within 10 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def page(browser, live_url):
    context = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    # Every page runs under the Content-Security-Policy: an inline script, inline style or eval it
    # refuses is a test failure (a refused load from another origin is the policy working; the API
    # docs tests check those separately). csp_refusals keeps every refusal for tests that look.
    refused: list[str] = []
    tab.on(
        "console",
        lambda message: refused.append(message.text)
        if message.type == "error" and "Content Security Policy" in message.text
        else None,
    )
    tab.csp_refusals = refused
    yield tab
    context.close()
    inline = [text for text in refused if text.startswith(("Executing inline", "Applying inline", "Evaluating a string"))]
    assert inline == [], f"the page broke the Content-Security-Policy: {inline}"


def screenshot(page, name: str) -> Path:
    """A full-page screenshot in test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""A live server whose public URL is its own (so the OAuth metadata names it), and the browser step over HTTP."""

from __future__ import annotations

import re
import socket
import threading
import time
from html import unescape
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import pytest
import uvicorn
from django.conf import settings
from django.test import override_settings

from tests.factories import make_user

PASSWORD = "pw-for-tests-123"


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def oauth_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """config.asgi.application on its own port, with MCP_PUBLIC_URL and the OAuth issuer set to it."""
    import apps.mcp_tools.server as mcp_server
    from config.asgi import application

    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    overrides = override_settings(
        MCP_PUBLIC_URL=url,
        OAUTH_RESOURCES=[f"{url}/mcp"],
        OAUTH2_PROVIDER={**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url},
        OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES=True,
    )
    overrides.enable()
    previous = mcp_server._server
    mcp_server._server = None  # built again, naming this URL in its protected-resource metadata
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    with django_db_blocker.unblock():
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        mcp_server._server = previous
        overrides.disable()


_INPUT_RE = re.compile(r"<input[^>]*>", re.I)
_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')


def form_fields(html: str) -> dict[str, str]:
    fields = {}
    for tag in _INPUT_RE.findall(html):
        attrs = dict(_ATTR_RE.findall(tag))
        if "name" in attrs:
            fields[attrs["name"]] = unescape(attrs.get("value", ""))
    return fields


class Browser:
    """The person at the browser: signs in and allows (or denies) on the consent page, with plain HTTP."""

    def __init__(self, username: str, *, allow: bool = True, scope: str | None = None) -> None:
        self.username = username
        self.allow = allow
        self.scope = scope  # narrower scopes ticked by the person (None: as asked)
        self.redirected_to: str | None = None
        self.consent_page: str = ""
        self.last_response = None

    async def authorize(self, authorization_url: str) -> str:
        async with httpx2.AsyncClient(timeout=15, follow_redirects=False) as http:
            response = await http.get(authorization_url)
            if response.status_code == 302 and "/accounts/login/" in response.headers["location"]:
                login_url = urljoin(authorization_url, response.headers["location"])
                page = await http.get(login_url)
                fields = form_fields(page.text)
                fields.update(username=self.username, password=PASSWORD)
                response = await http.post(urljoin(authorization_url, "/accounts/login/"), data=fields)
                assert response.status_code == 302, response.text[:500]
                response = await http.get(urljoin(authorization_url, response.headers["location"]))
            self.last_response = response
            assert response.status_code == 200, response.text[:500]
            self.consent_page = response.text
            fields = form_fields(response.text)
            if self.scope is not None:
                fields["scope"] = self.scope
            if self.allow:
                fields["allow"] = "Authorize"
            response = await http.post(authorization_url.split("?")[0], data=fields)
            assert response.status_code == 302, response.text[:500]
            self.redirected_to = response.headers["location"]
            return self.redirected_to


def redirect_params(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def alice(transactional_db):
    return make_user("alice")


@pytest.fixture
def bob(transactional_db):
    return make_user("bob")

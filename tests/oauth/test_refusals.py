"""What the authorization server and /mcp refuse: each with the right error and no data."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx2
import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from apps.audit.models import AuditEvent
from apps.core.localcache import clear_all_local
from apps.oauth.services import client_block
from tests.factories import make_task
from tests.oauth.conftest import Browser
from tests.oauth.helpers import (
    REDIRECT_URI,
    authorize_url,
    exchange,
    get_code,
    issue_tokens,
    mcp_post,
    pkce_pair,
    register,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_wrong_pkce_verifier_gets_no_token(oauth_server, alice):
    client_id = register(oauth_server).json()["client_id"]
    _verifier, challenge = pkce_pair()
    code = get_code(oauth_server, client_id, challenge)["code"]
    response = exchange(oauth_server, client_id, code, "x" * 50)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.text


def test_an_authorization_code_works_once(oauth_server, alice):
    client_id = register(oauth_server).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = get_code(oauth_server, client_id, challenge)["code"]
    assert exchange(oauth_server, client_id, code, verifier).status_code == 200
    again = exchange(oauth_server, client_id, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_reused_authorization_code_revokes_what_it_gave(oauth_server, alice, bob):
    """RFC 6749 §4.1.2: a code used twice has leaked, so the tokens issued for it stop working."""
    client_id = register(oauth_server).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = get_code(oauth_server, client_id, challenge)["code"]
    first = exchange(oauth_server, client_id, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    assert mcp_post(oauth_server, tokens["access_token"], "tools/list").status_code == 200
    # Another user's connection to the same client is not theirs to lose.
    bobs = exchange(oauth_server, client_id, *_code_and_verifier(oauth_server, client_id, "bob")).json()

    again = exchange(oauth_server, client_id, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "access_token" not in again.text
    assert mcp_post(oauth_server, tokens["access_token"], "tools/list").status_code == 401  # at once
    refreshed = httpx2.post(
        f"{oauth_server}/oauth/token/",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id},
        timeout=15,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert mcp_post(oauth_server, bobs["access_token"], "tools/list").status_code == 200
    event = AuditEvent.objects.get(action="oauth.code_reused")
    assert event.outcome == "denied" and event.actor == alice
    assert event.metadata["tokens_removed_count"] == 2  # the access and the refresh token
    assert code not in str(AuditEvent.objects.values_list("metadata", flat=True)[::1])


def test_an_unknown_or_expired_code_revokes_nothing(oauth_server, alice):
    tokens = issue_tokens(oauth_server)
    response = exchange(oauth_server, tokens["client_id"], "not-a-code-" + "x" * 30, "y" * 50)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert mcp_post(oauth_server, tokens["access_token"], "tools/list").status_code == 200
    assert not AuditEvent.objects.filter(action="oauth.code_reused").exists()


def _code_and_verifier(url: str, client_id: str, username: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    return get_code(url, client_id, challenge, username)["code"], verifier


def test_plain_pkce_and_no_pkce_are_refused(oauth_server, alice):
    client_id = register(oauth_server).json()["client_id"]
    for overrides in ({"code_challenge_method": "plain"}, {"code_challenge": None, "code_challenge_method": None}):
        browser = Browser("alice")
        with pytest.raises(AssertionError):  # the consent page never comes: an error page (400)
            asyncio.run(browser.authorize(authorize_url(oauth_server, client_id, "c" * 43, **overrides)))
    assert not AccessToken.objects.filter(user__isnull=False).exists()


def test_a_redirect_uri_not_registered_is_refused_without_redirecting(oauth_server, alice):
    client_id = register(oauth_server).json()["client_id"]
    _verifier, challenge = pkce_pair()
    url = authorize_url(oauth_server, client_id, challenge, redirect_uri="https://evil.example/cb")
    browser = Browser("alice")
    with pytest.raises(AssertionError):
        asyncio.run(browser.authorize(url))
    # Signed in, the answer is an error page of this site: no redirect to the unregistered URI.
    assert browser.last_response.status_code == 400
    assert "location" not in browser.last_response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"redirect_uris": ["http://example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://example.com/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        # refused before storing: PostgreSQL refuses NUL in text, UTF-8 a lone surrogate (both were a 500)
        ({"client_name": "Hand\u0000client"}, "invalid_client_metadata"),
        ({"client_name": "\ud800"}, "invalid_client_metadata"),
        ({"redirect_uris": ["http://127.0.0.1/cb\u0000"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://127.0.0.1/\ud800"]}, "invalid_redirect_uri"),
    ],
)
def test_registration_takes_public_clients_with_https_or_loopback_redirects_only(oauth_server, overrides, error):
    response = register(oauth_server, **overrides)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert not Application.objects.exists()


def test_registration_accepts_https_and_loopback_redirects(oauth_server):
    response = register(oauth_server, redirect_uris=["https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:9/cb"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_endpoint_auth_method"] == "none" and "client_secret" not in body


def test_a_token_for_another_resource_is_not_issued_and_not_accepted(oauth_server, alice, settings):
    client_id = register(oauth_server).json()["client_id"]
    _verifier, challenge = pkce_pair()
    with pytest.raises(AssertionError):
        asyncio.run(
            Browser("alice").authorize(authorize_url(oauth_server, client_id, challenge, resource="https://other.example/api"))
        )
    # A token this server issued for another audience (say, a second API it serves) is refused at /mcp.
    settings.OAUTH_RESOURCES = [*settings.OAUTH_RESOURCES, "https://other.example/api"]
    verifier, challenge = pkce_pair()
    code = get_code(oauth_server, client_id, challenge, resource="https://other.example/api")["code"]
    token = exchange(oauth_server, client_id, code, verifier).json()["access_token"]
    response = mcp_post(oauth_server, token, "tools/list")
    assert response.status_code == 401
    assert "tools" not in response.text


def test_an_expired_token_is_refused(oauth_server, alice):
    tokens = issue_tokens(oauth_server)
    AccessToken.objects.filter(user=alice).update(expires=timezone.now() + timedelta(seconds=1))
    clear_all_local()  # as if the per-process copies' TTL had passed
    assert mcp_post(oauth_server, tokens["access_token"], "tools/list").status_code == 200  # (copied again)
    time.sleep(1.1)
    refused = mcp_post(oauth_server, tokens["access_token"], "tools/list")  # the copy knows when it expires
    assert refused.status_code == 401 and "tools" not in refused.text


def test_a_read_only_token_sees_and_calls_read_tools_only(oauth_server, alice):
    task = make_task(alice, title="Mine")
    tokens = issue_tokens(oauth_server, scope="tasks:read")
    assert tokens["scope"] == "tasks:read"
    listed = mcp_post(oauth_server, tokens["access_token"], "tools/list").json()["result"]["tools"]
    names = {tool["name"] for tool in listed}
    assert "list_tasks" in names and "get_task" in names
    assert not names & {"add_task", "add_tasks", "update_task", "complete_task", "delete_task"}

    refused = mcp_post(oauth_server, tokens["access_token"], "tools/call", {"name": "delete_task", "arguments": {"task_id": task.pk}})
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="tasks:write"' in challenge
    assert "resource_metadata=" in challenge
    task.refresh_from_db()  # still there

    read = mcp_post(oauth_server, tokens["access_token"], "tools/call", {"name": "get_task", "arguments": {"task_id": task.pk}})
    assert read.status_code == 200 and read.json()["result"]["structuredContent"]["title"] == "Mine"


def test_a_full_token_and_a_read_only_token_of_one_user_get_their_own_tool_listing(oauth_server, alice):
    """The tool listing is cached per user (#14): the token's scopes are part of its key."""
    full = issue_tokens(oauth_server)
    read_only = issue_tokens(oauth_server, scope="tasks:read")
    for _ in range(2):  # the second round is served from the cache
        full_names = {t["name"] for t in mcp_post(oauth_server, full["access_token"], "tools/list").json()["result"]["tools"]}
        read_names = {t["name"] for t in mcp_post(oauth_server, read_only["access_token"], "tools/list").json()["result"]["tools"]}
        assert "add_task" in full_names and "add_task" not in read_names and "list_tasks" in read_names


def test_another_users_task_is_not_found_through_an_oauth_token(oauth_server, alice, bob):
    theirs = make_task(bob, title="Bob's secret")
    tokens = issue_tokens(oauth_server)
    for name, arguments in [
        ("get_task", {"task_id": theirs.pk}),
        ("update_task", {"task_id": theirs.pk, "title": "pwned"}),
        ("complete_task", {"task_id": theirs.pk}),
        ("delete_task", {"task_id": theirs.pk}),
    ]:
        result = mcp_post(oauth_server, tokens["access_token"], "tools/call", {"name": name, "arguments": arguments}).json()["result"]
        assert result["isError"] is True, name
        assert "Bob's secret" not in str(result)
    theirs.refresh_from_db()
    assert theirs.title == "Bob's secret" and not theirs.completed


def test_a_blocked_client_cannot_sign_in_and_its_tokens_stop_working(oauth_server, alice):
    tokens = issue_tokens(oauth_server)
    assert mcp_post(oauth_server, tokens["access_token"], "tools/list").status_code == 200
    application = Application.objects.get(client_id=tokens["client_id"])
    client_block(actor=None, application=application)
    assert mcp_post(oauth_server, tokens["access_token"], "tools/list").status_code == 401
    refreshed = httpx2.post(
        f"{oauth_server}/oauth/token/",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": tokens["client_id"]},
    )
    assert refreshed.status_code in (400, 401) and "access_token" not in refreshed.text
    _verifier, challenge = pkce_pair()
    with pytest.raises(AssertionError):
        asyncio.run(Browser("alice").authorize(authorize_url(oauth_server, tokens["client_id"], challenge)))
    assert AuditEvent.objects.filter(action="oauth.client_blocked").exists()


def test_a_used_refresh_token_cannot_be_replayed(oauth_server, alice):
    tokens = issue_tokens(oauth_server)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": tokens["client_id"]}
    first = httpx2.post(f"{oauth_server}/oauth/token/", data=data)
    assert first.status_code == 200
    replay = httpx2.post(f"{oauth_server}/oauth/token/", data=data)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_metadata_documents_on_private_addresses_are_refused_by_default(oauth_server, alice, tmp_path, settings):
    from tests.oauth.cimd_server import serve_documents

    documents: dict[str, object] = {}
    with serve_documents(tmp_path, documents) as (base, ca_file, hits):
        client_id = f"{base}/client.json"
        documents["/client.json"] = {
            "client_id": client_id,
            "client_name": "Sneaky",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        }
        settings.OAUTH_CIMD_CA_FILE = ca_file
        settings.OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES = False
        _verifier, challenge = pkce_pair()
        with pytest.raises(AssertionError):
            asyncio.run(Browser("alice").authorize(authorize_url(oauth_server, client_id, challenge)))
    assert hits == []  # never even connected
    assert not Application.objects.filter(client_id=client_id).exists()


def test_metadata_documents_over_the_size_limit_or_with_bad_redirects_are_refused(oauth_server, alice, tmp_path, settings):
    from tests.oauth.cimd_server import serve_documents

    documents: dict[str, object] = {}
    with serve_documents(tmp_path, documents) as (base, ca_file, hits):
        big, bad = f"{base}/big.json", f"{base}/bad.json"
        documents["/big.json"] = {"client_id": big, "redirect_uris": [REDIRECT_URI], "pad": "x" * 20000}
        documents["/bad.json"] = {"client_id": bad, "redirect_uris": ["http://evil.example/cb"]}
        settings.OAUTH_CIMD_CA_FILE = ca_file
        for client_id in (big, bad):
            _verifier, challenge = pkce_pair()
            with pytest.raises(AssertionError):
                asyncio.run(Browser("alice").authorize(authorize_url(oauth_server, client_id, challenge)))
    assert not Application.objects.filter(client_id__in=[big, bad]).exists()


def test_denying_consent_gives_the_client_an_error_and_no_code(oauth_server, alice):
    client_id = register(oauth_server).json()["client_id"]
    _verifier, challenge = pkce_pair()
    browser = Browser("alice", allow=False)
    location = asyncio.run(browser.authorize(authorize_url(oauth_server, client_id, challenge)))
    assert location.startswith(REDIRECT_URI) and "error=access_denied" in location and "code=" not in location
    assert not AccessToken.objects.filter(user=alice).exists()


def test_neither_the_registration_token_nor_an_oauth_token_opens_other_doors(oauth_server, alice):
    registration = register(oauth_server).json()
    assert mcp_post(oauth_server, registration["registration_access_token"], "tools/list").status_code == 401
    tokens = issue_tokens(oauth_server)
    # The REST API is another audience: OAuth tokens are for /mcp only.
    api = httpx2.get(f"{oauth_server}/api/v1/tasks/", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert api.status_code == 401


def test_an_oauth_token_is_under_the_users_mcp_tools_call_limit(oauth_server, alice):
    """The per-user tools/call limit (#13) holds whichever kind of token the client signed in with."""
    from apps.limits.models import UserPolicy

    UserPolicy.objects.update_or_create(user=None, defaults={"mcp_calls_per_minute": 2})
    tokens = issue_tokens(oauth_server)
    statuses = [
        mcp_post(oauth_server, tokens["access_token"], "tools/call", {"name": "add_task", "arguments": {"title": f"t{i}"}}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_registrations_from_one_address_are_rate_limited(oauth_server, settings):
    """Registration is open to anyone: one address cannot fill the client table."""
    from apps.audit.models import AuditEvent
    from oauth2_provider.models import get_application_model

    settings.OAUTH_REGISTER_RATE_LIMIT = "3/m"
    before = get_application_model().objects.count()
    assert [register(oauth_server).status_code for _ in range(3)] == [201, 201, 201]
    refused = register(oauth_server)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["error"] == "rate_limited"
    assert get_application_model().objects.count() == before + 3
    assert AuditEvent.objects.filter(action="limit.exceeded", metadata__policy="oauth_register").count() == 1


@pytest.mark.postgres
def test_a_refresh_token_sent_many_times_at_once_is_honoured_exactly_once(oauth_server, alice):
    # A client retrying a refresh on a timeout, or a stolen token raced against its owner. Before,
    # the uses ran side by side: two live pairs from one refresh token, 500s (the toolkit's "same
    # pair again" answer has no plaintext to give under hashed storage), or the winner's new pair
    # revoked by a loser's reuse check after it had been handed out.
    from concurrent.futures import ThreadPoolExecutor

    from tests.services import require_postgres

    require_postgres()  # the test database on SQLite is in memory, where concurrent writers fail at once
    tokens = issue_tokens(oauth_server)
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": tokens["client_id"]}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: httpx2.post(f"{oauth_server}/oauth/token/", data=data, timeout=30), range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 7, [a.text[:200] for a in answers]
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
    # The later uses are replays, answered as one after the fact: the whole family is revoked.
    issued = next(a.json() for a in answers if a.status_code == 200)
    replay = httpx2.post(f"{oauth_server}/oauth/token/", data={**data, "refresh_token": issued["refresh_token"]}, timeout=30)
    assert replay.status_code == 400

"""Connected apps page (list, one-click revoke) and the admin's block action; all audited, no token values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, RefreshToken

from apps.audit.models import AuditEvent
from apps.oauth.models import ClientState, Connection
from apps.oauth.selectors import oauth_token_authenticate
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MCP = "http://127.0.0.1:8000/mcp"


def _connect(user, name="Inspector", plaintext="tdo_plain-for-tests-0001"):
    application = Application.objects.create(
        name=name,
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1/cb",
    )
    access = AccessToken(user=user, application=application, scope="tasks:read", expires=timezone.now() + timedelta(hours=1), resource=[MCP])
    access._raw_token = plaintext
    access.token = ""
    access.save()
    refresh = RefreshToken(user=user, application=application, access_token=access)
    refresh._raw_token = plaintext.replace("tdo_", "tdr_")
    refresh.token = ""
    refresh.save()
    connection = Connection.objects.create(user=user, application=application, scope="tasks:read", authorized_at=timezone.now())
    return application, connection, plaintext


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_lists_my_connected_apps_with_scopes_and_last_use():
    alice, bob = make_user("alice"), make_user("bob")
    _connect(alice, "Alice's Inspector")
    _connect(bob, "Bob's app", "tdo_plain-for-tests-0002")
    page = _signed_in(alice).get("/settings/connections/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alice&#x27;s Inspector" in html and "tasks:read" in html and "never" in html
    assert "Bob" not in html
    assert "tdo_plain" not in html


def test_revoking_a_connection_ends_its_tokens_at_once_and_is_audited():
    alice = make_user("alice")
    application, connection, plaintext = _connect(alice)
    assert oauth_token_authenticate(plaintext=plaintext) is not None  # (now copied in this process)
    response = _signed_in(alice).post(f"/settings/connections/{connection.pk}/revoke/")
    assert response.status_code == 302
    assert oauth_token_authenticate(plaintext=plaintext) is None
    assert not AccessToken.objects.filter(application=application).exists()
    assert not RefreshToken.objects.filter(application=application).exists()
    assert not Connection.objects.exists()
    event = AuditEvent.objects.get(action="oauth.connection_revoked")
    assert event.actor == alice and event.metadata["tokens_removed_count"] == 2
    assert plaintext not in str(event.metadata)


def test_another_users_connection_cannot_be_revoked():
    alice, bob = make_user("alice"), make_user("bob")
    _application, connection, plaintext = _connect(bob)
    assert _signed_in(alice).post(f"/settings/connections/{connection.pk}/revoke/").status_code == 404
    assert _signed_in(alice).post("/settings/connections/nonsense/revoke/").status_code == 404
    assert Connection.objects.filter(pk=connection.pk).exists()
    assert oauth_token_authenticate(plaintext=plaintext) is not None


def test_revoke_needs_a_post_and_a_session():
    alice = make_user("alice")
    _application, connection, _ = _connect(alice)
    assert _signed_in(alice).get(f"/settings/connections/{connection.pk}/revoke/").status_code == 405
    assert Client().post(f"/settings/connections/{connection.pk}/revoke/").status_code == 302  # to the login page
    assert Connection.objects.exists()


def test_the_admin_blocks_a_client_and_its_tokens_stop_working():
    admin_user = make_user("root")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    alice = make_user("alice")
    application, _connection, plaintext = _connect(alice)
    assert oauth_token_authenticate(plaintext=plaintext) is not None
    client = _signed_in(admin_user)
    changelist = client.get("/admin/oauth2_provider/application/")
    assert changelist.status_code == 200 and "Block the selected clients" in changelist.content.decode()
    response = client.post(
        "/admin/oauth2_provider/application/",
        {"action": "block_selected", "_selected_action": [application.pk]},
    )
    assert response.status_code == 302
    assert ClientState.objects.get(application=application).blocked
    assert oauth_token_authenticate(plaintext=plaintext) is None
    event = AuditEvent.objects.get(action="oauth.client_blocked")
    assert event.actor == admin_user and event.target_id == str(application.pk)

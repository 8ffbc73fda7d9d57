"""Deleting access tokens in the admin is audited like revoking them, with the prefix only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.audit.models import AuditEvent
from apps.keys.models import AccessToken
from apps.keys.services import access_token_create

pytestmark = pytest.mark.django_db

TOKENS = "/admin/keys/accesstoken/"


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client.force_login(user)
    return user


def make(user, name="laptop"):
    return access_token_create(user=user, name=name)


def test_deleting_one_token_on_its_delete_page_is_audited_with_the_prefix_only(client, operator, user_a):
    created = make(user_a)
    token = created.token

    response = client.post(f"{TOKENS}{token.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="access_token.delete")
    assert event.actor == operator and event.target_id == str(token.pk)
    assert event.metadata == {"token_prefix": token.prefix, "owner": "alice", "was_revoked": False}
    stored = repr(list(AuditEvent.objects.values()))
    assert created.plaintext not in stored and token.token_hash not in stored


def test_the_bulk_delete_action_audits_every_token(client, operator, user_a, user_b):
    tokens = [make(user_a, "a1").token, make(user_a, "a2").token, make(user_b, "b1").token]
    AccessToken.objects.filter(pk=tokens[1].pk).update(revoked_at="2026-01-01T00:00:00Z")

    response = client.post(
        TOKENS, {"action": "delete_selected", "_selected_action": [t.pk for t in tokens], "post": "yes"}
    )

    assert response.status_code == 302
    assert not AccessToken.objects.filter(pk__in=[t.pk for t in tokens]).exists()
    events = AuditEvent.objects.filter(action="access_token.delete").order_by("id")
    assert sorted((e.metadata["token_prefix"], e.metadata["owner"], e.metadata["was_revoked"]) for e in events) == sorted(
        [(tokens[0].prefix, "alice", False), (tokens[1].prefix, "alice", True), (tokens[2].prefix, "bob", False)]
    )
    assert all(e.actor == operator for e in events)


def test_a_deleted_token_no_longer_authenticates(client, operator, user_a):
    from rest_framework.test import APIClient

    created = make(user_a)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {created.plaintext}")
    assert api.get("/api/v1/tasks/").status_code == 200

    client.post(f"{TOKENS}{created.token.pk}/delete/", {"post": "yes"})

    assert api.get("/api/v1/tasks/").status_code == 401

"""Personal access tokens: authentication, revocation, storage, commands."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.keys.models import AccessToken
from apps.keys.services import access_token_create, access_token_revoke

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tasks/"


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_valid_token_authenticates_and_records_last_use(user_a):
    created = access_token_create(user=user_a, name="laptop")
    assert created.token.last_used_at is None

    assert client_with(created.plaintext).get(LIST).status_code == 200

    created.token.refresh_from_db()
    assert created.token.last_used_at is not None


def test_last_use_is_written_at_most_once_per_interval(user_a, django_assert_max_num_queries):
    created = access_token_create(user=user_a, name="laptop")
    client = client_with(created.plaintext)
    client.get(LIST)
    first = AccessToken.objects.get(pk=created.token.pk).last_used_at
    client.get(LIST)
    assert AccessToken.objects.get(pk=created.token.pk).last_used_at == first


@pytest.mark.parametrize(
    "header",
    [
        "Bearer tda_aaaaaaaaaaaa_" + "A" * 43,  # well-formed but unknown
        "Bearer not-a-token",
        "Bearer ",
        "Bearer a b",
        "Bearer tda_\u00e9\u00e9",
    ],
)
def test_unknown_or_malformed_tokens_are_a_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(LIST)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"authentication_failed", "not_authenticated"}


def test_a_revoked_token_is_a_401(user_a):
    created = access_token_create(user=user_a, name="old")
    access_token_revoke(user=user_a, token_id=created.token.pk)
    assert client_with(created.plaintext).get(LIST).status_code == 401


def test_an_expired_token_is_a_401(user_a):
    created = access_token_create(user=user_a, name="short", expires_at=timezone.now() - timedelta(seconds=1))
    assert client_with(created.plaintext).get(LIST).status_code == 401


def test_a_token_with_a_tampered_secret_is_a_401(user_a):
    plaintext = access_token_create(user=user_a, name="x").plaintext
    tampered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert client_with(tampered).get(LIST).status_code == 401


def test_an_inactive_users_token_is_a_401(user_a):
    plaintext = access_token_create(user=user_a, name="x").plaintext
    user_a.is_active = False
    user_a.save()
    assert client_with(plaintext).get(LIST).status_code == 401


def test_the_database_holds_no_token_in_clear_text(user_a):
    plaintext = access_token_create(user=user_a, name="secret-check").plaintext
    secret_part = plaintext.split("_", 2)[2]  # the 43-character secret (it may contain "_" itself)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AccessToken._meta.db_table}")
        raw_tokens = repr(cursor.fetchall())
        cursor.execute(f"SELECT * FROM {AuditEvent._meta.db_table}")
        raw_audit = repr(cursor.fetchall())

    assert secret_part not in raw_tokens and plaintext not in raw_tokens
    assert secret_part not in raw_audit
    assert "tda_" in raw_audit  # the prefix, and only the prefix, is recorded


def test_create_and_revoke_are_audited(user_a):
    created = access_token_create(user=user_a, name="x")
    access_token_revoke(user=user_a, token_id=created.token.pk)
    access_token_revoke(user=user_a, token_id=created.token.pk)  # twice: harmless, audited once
    actions = list(AuditEvent.objects.filter(target_id=str(created.token.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["access_token.create", "access_token.revoke"]


def test_a_user_cannot_revoke_another_users_token(user_a, user_b):
    from apps.core.errors import NotFound

    created = access_token_create(user=user_a, name="x")
    with pytest.raises(NotFound):
        access_token_revoke(user=user_b, token_id=created.token.pk)


def test_create_access_token_command_prints_a_working_token(user_a):
    out = StringIO()
    call_command("create_access_token", "alice", stdout=out)
    assert client_with(out.getvalue().strip()).get(LIST).status_code == 200


def test_create_access_token_for_unknown_user_fails_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named"):
        call_command("create_access_token", "nobody", stdout=StringIO())


def test_createdemo_creates_the_demo_user_once_and_prints_a_token(db):
    out1, out2 = StringIO(), StringIO()
    call_command("createdemo", stdout=out1, stderr=StringIO())
    call_command("createdemo", stdout=out2, stderr=StringIO())

    from django.contrib.auth import authenticate, get_user_model

    assert get_user_model().objects.filter(username="demo").count() == 1
    assert authenticate(username="demo", password="demo-password") is not None
    for out in (out1, out2):
        assert client_with(out.getvalue().strip()).get(LIST).status_code == 200


def test_a_token_revoked_after_use_is_a_401_on_its_very_next_request(user_a):
    """The API answers from this process's copy of verified tokens; a revocation drops it at once."""
    created = access_token_create(user=user_a, name="warm")
    client = client_with(created.plaintext)
    assert client.get(LIST).status_code == 200
    assert client.get(LIST).status_code == 200  # from the copy
    access_token_revoke(user=user_a, token_id=created.token.pk)
    assert client.get(LIST).status_code == 401


def test_a_deactivated_user_is_a_401_on_the_next_request(user_a):
    created = access_token_create(user=user_a, name="warm")
    client = client_with(created.plaintext)
    assert client.get(LIST).status_code == 200
    user_a.is_active = False
    user_a.save()
    assert client.get(LIST).status_code == 401


def test_a_token_that_expires_while_warm_is_a_401(user_a):
    created = access_token_create(user=user_a, name="short", expires_at=timezone.now() + timedelta(seconds=2))
    client = client_with(created.plaintext)
    assert client.get(LIST).status_code == 200
    time.sleep(2.1)
    assert client.get(LIST).status_code == 401


def test_each_request_gets_its_own_user_object(user_a):
    from apps.keys.authentication import AccessTokenAuthentication

    created = access_token_create(user=user_a, name="x")
    from django.test import RequestFactory

    request = RequestFactory().get(LIST, HTTP_AUTHORIZATION=f"Bearer {created.plaintext}")
    first_user, first_token = AccessTokenAuthentication().authenticate(request)
    second_user, second_token = AccessTokenAuthentication().authenticate(request)
    assert first_token is second_token  # the process's copy
    assert first_user.pk == second_user.pk == user_a.pk
    assert first_user is not second_user  # state one request hangs on its user never reaches another

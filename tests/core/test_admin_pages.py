"""Every admin page an operator can open renders (no 500), and none shows a secret."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.keys.vault import provider_key_create
from tests.factories import make_task, make_token, make_user

pytestmark = pytest.mark.django_db

SECRET = "sk-admin-page-secret-0042"


@pytest.fixture
def operator_client(client):
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client.force_login(operator)
    return client


@pytest.fixture
def some_of_everything(fake_provider):
    from apps.chat.services import chat_turn

    user = make_user("owner")
    make_task(user, title="a task")
    token = make_token(user)
    provider_key_create(user=user, provider_name="openai", key=SECRET)
    chat_turn(user=user, conversation_id=None, text="add buy milk")
    return token


def test_every_admin_changelist_and_change_page_renders(operator_client, some_of_everything):
    opened = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = operator_client.get(changelist)
        assert response.status_code == 200, changelist
        pages = [response]
        obj = model_admin.get_queryset(response.wsgi_request).first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            pages.append(operator_client.get(change))
            assert pages[-1].status_code == 200, change
        for page in pages:
            text = page.content.decode()
            assert SECRET not in text and some_of_everything not in text, f"a secret is shown on {changelist}"
        opened += len(pages)
    assert opened >= 15

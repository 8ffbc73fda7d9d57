"""/settings/keys/: add, list (last 4 only), validate, delete — through the same vault services as the API."""

from __future__ import annotations

import re

import pytest

from apps.core.errors import ApplicationError
from apps.keys.models import ProviderKey
from apps.web.forms import ProviderKeyForm, add_application_error
from tests.web.conftest import make_key

SECRET = "sk-live-Secret-Value-9f3K"


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/settings/keys/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/settings/keys/"


def test_adding_a_key_stores_it_and_never_shows_it_again(page_a, user_a):
    response = page_a.post("/settings/keys/", {"provider": "openai", "label": "work", "key": SECRET})
    assert response.status_code == 302 and response["Location"] == "/settings/keys/"

    page = page_a.get("/settings/keys/").content.decode()
    assert SECRET not in page and SECRET[:-4] not in page
    assert "…9f3K" in page and "work" in page and "added" in page
    assert ProviderKey.objects.get(owner=user_a).last4 == "9f3K"


def test_the_provider_choice_offers_only_providers_that_take_keys(page_a):
    page = page_a.get("/settings/keys/").content.decode()
    options = re.findall(r'<option value="([^"]*)"', page)
    assert options == ["", "openai", "anthropic"]


def test_a_service_error_appears_next_to_the_field_it_names_and_the_key_is_not_echoed(page_a, user_a):
    bad_key = "has spaces in it 123"
    response = page_a.post("/settings/keys/", {"provider": "openai", "label": "x", "key": bad_key})

    assert response.status_code == 400
    page = response.content.decode()
    assert bad_key not in page
    # The vault's message sits in the key field's error list, which the input points at.
    assert re.search(r'<ul class="errorlist" id="id_key_error"><li>The key must be 8–512 printable', page)
    assert re.search(r'<input type="password"[^>]*aria-describedby="id_key_error"', page)
    assert 'aria-invalid="true"' in page
    assert not ProviderKey.objects.filter(owner=user_a).exists()


def test_a_missing_provider_is_reported_on_the_provider_field(page_a):
    page = page_a.post("/settings/keys/", {"provider": "", "key": SECRET}).content.decode()
    assert 'id="id_provider_error"' in page
    assert SECRET not in page


def test_an_error_naming_no_form_field_is_shown_above_the_form():
    form = ProviderKeyForm({"provider": "openai", "key": "x" * 10}, providers=[])
    form.is_valid()
    add_application_error(form, ApplicationError("Key storage is not configured on this server."))
    assert form.non_field_errors() == ["Key storage is not configured on this server."]


# Transactional: validation runs on commit (eagerly here), as it does outside a test transaction.
@pytest.mark.django_db(transaction=True)
def test_validate_shows_the_providers_verdict_in_the_row(page_a, user_a, providers_at_fake):
    record = make_key(user_a, key="sk-good-key-1234", label="mine")
    providers_at_fake.expected_key = "sk-wrong-key"

    response = page_a.post(f"/settings/keys/{record.pk}/validate/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="key-{record.pk}">')
    assert "Invalid" in row and "refused this key" in row
    assert "sk-good-key-1234" not in row


@pytest.mark.django_db(transaction=True)
def test_validate_without_javascript_redirects_with_the_result(page_a, user_a, providers_at_fake):
    record = make_key(user_a, key="sk-good-key-1234", label="mine")
    response = page_a.post(f"/settings/keys/{record.pk}/validate/", follow=True)
    page = response.content.decode()
    assert "accepted this key" in page
    assert ProviderKey.objects.get(pk=record.pk).last_validated_at is not None


def test_delete_asks_for_confirmation_then_revokes(page_a, user_a):
    record = make_key(user_a, label="old")

    confirm = page_a.get(f"/settings/keys/{record.pk}/delete/")
    assert confirm.status_code == 200 and "Delete this key?" in confirm.content.decode()
    assert ProviderKey.objects.get(pk=record.pk).status == ProviderKey.Status.ACTIVE

    response = page_a.post(f"/settings/keys/{record.pk}/delete/", follow=True)
    assert "deleted" in response.content.decode()
    assert f'id="key-{record.pk}"' not in response.content.decode()
    assert ProviderKey.objects.get(pk=record.pk).status == ProviderKey.Status.REVOKED


@pytest.mark.parametrize("raw_id", ["abc", "0", "99999999999999999999999"])
def test_malformed_key_ids_are_404(page_a, raw_id):
    assert page_a.get(f"/settings/keys/{raw_id}/delete/").status_code == 404
    assert page_a.post(f"/settings/keys/{raw_id}/validate/").status_code == 404


def test_get_on_validate_is_not_allowed(page_a, user_a):
    record = make_key(user_a)
    assert page_a.get(f"/settings/keys/{record.pk}/validate/").status_code == 405

"""A user never sees or touches another user's objects through any page."""

from __future__ import annotations

from apps.keys.models import ProviderKey
from tests.web.conftest import make_key


def test_another_users_keys_are_not_listed(page_a, user_a, user_b):
    mine = make_key(user_a, key="sk-alice-key-AAAA", label="alice-key")
    theirs = make_key(user_b, key="sk-bob-key-BBBB", label="bob-key")

    page = page_a.get("/settings/keys/").content.decode()

    assert "alice-key" in page and "…AAAA" in page
    assert "bob-key" not in page and "BBBB" not in page and f"key-{theirs.pk}" not in page
    assert f"key-{mine.pk}" in page


def test_another_users_key_is_a_404_for_every_key_page(page_a, user_b):
    theirs = make_key(user_b, label="bob-key")

    assert page_a.get(f"/settings/keys/{theirs.pk}/delete/").status_code == 404
    assert page_a.post(f"/settings/keys/{theirs.pk}/delete/").status_code == 404
    assert page_a.post(f"/settings/keys/{theirs.pk}/validate/").status_code == 404
    assert page_a.post(f"/settings/keys/{theirs.pk}/validate/", headers={"HX-Request": "true"}).status_code == 404

    theirs.refresh_from_db()
    assert theirs.status == ProviderKey.Status.ACTIVE and theirs.ciphertext

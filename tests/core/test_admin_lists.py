"""Admin lists: names a person can read, long values cut with the whole text kept, the audit columns."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.audit.services import audit_record
from apps.core.admin_display import shortened
from apps.keys.vault import provider_key_create
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def test_a_provider_keys_name_shows_the_provider_name_not_its_database_id():
    key = provider_key_create(user=make_user("owner"), provider_name="openai", key="sk-name-test-0000", label="work")
    assert str(key) == "openai: work (…0000)"
    unlabelled = provider_key_create(user=make_user("other"), provider_name="anthropic", key="sk-ant-name-9999")
    unlabelled.label = ""
    assert str(unlabelled) == "anthropic: key (…9999)"


def test_long_values_are_cut_for_lists_with_the_whole_text_in_a_tooltip():
    assert shortened("short") == "short" and shortened(None) == ""
    cut = shortened("<b>" + "y" * 100, 20)
    assert cut.startswith('<span title="&lt;b&gt;' + "y" * 97) and cut.endswith("…</span>")  # escaped
    assert len(cut.split(">", 1)[1].removesuffix("…</span>")) < 40


def test_admin_lists_show_cut_titles_the_audit_outcome_and_request_id(client):
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw-root-12345"))
    owner = make_user("owner")
    make_task(owner, title="t" * 200)
    audit_record(actor=owner, action="task.test", target_type="todos.task", target_id="1", metadata={})

    tasks = client.get("/admin/todos/task/").content.decode()
    assert "t" * 59 + "…" in tasks and "admin-lists.css" in tasks
    audit = client.get("/admin/audit/auditevent/").content.decode()
    assert "column-outcome" in audit and "column-request_id" in audit and "field-outcome" in audit

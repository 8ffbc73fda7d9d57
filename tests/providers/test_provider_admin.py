"""Provider configs: base-URL scheme rules, the base-URL permission and confirmation, audit of every admin change."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.errors import PermissionDenied
from apps.keys.vault import provider_key_create
from apps.providers.admin import ProviderConfigForm
from apps.providers.models import ProviderConfig, validate_provider_base_url
from apps.providers.services import provider_config_save
from tests.factories import make_user

pytestmark = pytest.mark.django_db

SECRET = "sk-provider-admin-secret-0042"


def _change_url(provider: ProviderConfig) -> str:
    return reverse("admin:providers_providerconfig_change", args=[provider.pk])


def _form_data(provider: ProviderConfig, **changes) -> dict[str, str]:
    data = {
        "name": provider.name,
        "display_name": provider.display_name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "model_names": "\n".join(provider.model_names),
        "default_model": provider.default_model,
        "price_input_per_million": str(provider.price_input_per_million),
        "price_output_per_million": str(provider.price_output_per_million),
        "timeout_seconds": str(provider.timeout_seconds),
        "fallback_order": str(provider.fallback_order),
        "answer_cache": provider.answer_cache,
        "answer_cache_ttl_seconds": str(provider.answer_cache_ttl_seconds),
    }
    if provider.enabled:
        data["enabled"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-12345")


def _staff(*codenames: str):
    staff = get_user_model().objects.create_user("staffer", password="pw-staff-12345", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="providers", codename__in=codenames))
    return get_user_model().objects.get(pk=staff.pk)  # fresh permission cache


def _updates(provider: ProviderConfig):
    return AuditEvent.objects.filter(action="provider_config.update", target_id=str(provider.pk))


# -- the scheme rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://api.example.com/v1", "http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "http://[::1]:9/v1", ""],
)
def test_https_and_loopback_http_base_urls_are_accepted(url):
    validate_provider_base_url(url)


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/v1", "must be https, not ftp"),
        ("http://example.com/v1", "Plain http"),
        ("http://10.0.0.5:8000/v1", "Plain http"),
        ("https://user:pw@example.com/v1", "no credentials"),
    ],
)
def test_other_base_urls_are_refused_by_the_model(url, message):
    provider = ProviderConfig(name="custom", kind="openai_compatible", base_url=url, model_names=["m"])
    with pytest.raises(ValidationError, match=message):
        provider.full_clean()


def test_plain_http_anywhere_only_when_the_setting_allows_it(settings):
    settings.PROVIDER_BASE_URL_ALLOW_HTTP = True
    validate_provider_base_url("http://llm.internal:8000/v1")
    with pytest.raises(ValidationError):
        validate_provider_base_url("ftp://example.com/v1")


def test_configure_provider_refuses_an_ftp_base_url_and_changes_nothing():
    with pytest.raises(CommandError, match="must be https"):
        call_command("configure_provider", "ftpish", "--kind", "openai_compatible", "--base-url", "ftp://example.com/v1")
    with pytest.raises(CommandError, match="must be https"):
        call_command("configure_provider", "openai", "--base-url", "ftp://example.com/v1")
    assert not ProviderConfig.objects.filter(name="ftpish").exists()
    assert ProviderConfig.objects.get(name="openai").base_url == ""


def test_the_admin_form_refuses_an_ftp_base_url(superuser, client):
    client.force_login(superuser)
    openai = ProviderConfig.objects.get(name="openai")
    response = client.post(
        _change_url(openai), _form_data(openai, base_url="ftp://example.com/v1", confirm_base_url="on")
    )
    assert response.status_code == 200 and "must be https" in response.content.decode()
    openai.refresh_from_db()
    assert openai.base_url == "" and not _updates(openai).exists()


# -- audit ------------------------------------------------------------------------------------------


def test_an_admin_change_is_audited_with_before_and_after_values(superuser, client):
    client.force_login(superuser)
    openai = ProviderConfig.objects.get(name="openai")
    provider_key_create(user=make_user("keyholder"), provider_name="openai", key=SECRET)
    response = client.post(
        _change_url(openai),
        _form_data(openai, model_names="gpt-4o-mini\ngpt-5-mini\n", price_input_per_million="0.25", enabled=None),
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    event = _updates(openai).get()
    assert event.actor == superuser and event.metadata["source"] == "admin"
    assert event.metadata["fields"] == ["enabled", "model_names", "price_input_per_million"]
    assert event.metadata["changes"] == {
        "enabled": {"before": True, "after": False},
        "model_names": {"before": ["gpt-4o-mini", "gpt-4.1-mini"], "after": ["gpt-4o-mini", "gpt-5-mini"]},
        "price_input_per_million": {"before": "0.15", "after": "0.25"},
    }
    assert SECRET not in str(event.metadata)


def test_changelist_edits_and_deletes_are_audited(superuser, client):
    client.force_login(superuser)
    extra = ProviderConfig.objects.create(name="spare", kind="offline", model_names=["offline-rules"])
    providers = list(ProviderConfig.objects.all())
    data = {
        "form-TOTAL_FORMS": str(len(providers)),
        "form-INITIAL_FORMS": str(len(providers)),
        "_save": "Save",
    }
    for i, provider in enumerate(providers):
        data[f"form-{i}-id"] = str(provider.pk)
        data[f"form-{i}-fallback_order"] = str(provider.fallback_order + (5 if provider.name == "anthropic" else 0))
        if provider.enabled:
            data[f"form-{i}-enabled"] = "on"
    response = client.post(reverse("admin:providers_providerconfig_changelist"), data)
    assert response.status_code == 302
    anthropic = ProviderConfig.objects.get(name="anthropic")
    assert _updates(anthropic).get().metadata["changes"] == {"fallback_order": {"before": 20, "after": 25}}
    assert AuditEvent.objects.filter(action="provider_config.update").count() == 1  # unchanged rows: no event

    response = client.post(reverse("admin:providers_providerconfig_delete", args=[extra.pk]), {"post": "yes"})
    assert response.status_code == 302 and not ProviderConfig.objects.filter(pk=extra.pk).exists()
    deleted = AuditEvent.objects.get(action="provider_config.delete", target_id=str(extra.pk))
    assert deleted.actor == superuser and deleted.metadata["changes"]["name"] == {"before": "spare", "after": None}


def test_configure_provider_audits_before_and_after_values():
    call_command("configure_provider", "openai", "--timeout", "45", "--base-url", "https://proxy.example.com/v1", stdout=StringIO())
    event = AuditEvent.objects.get(action="provider_config.update")
    assert event.actor is None and event.metadata["source"] == "configure_provider"
    assert event.metadata["changes"] == {
        "base_url": {"before": "", "after": "https://proxy.example.com/v1"},
        "timeout_seconds": {"before": 30, "after": 45},
    }


def test_credential_looking_query_values_in_a_base_url_are_masked_in_the_audit():
    openai = ProviderConfig.objects.get(name="openai")
    openai.base_url = "https://gw.example.com/v1?api-version=2024&api_key=" + SECRET
    provider_config_save(actor=None, provider=openai, source="test")
    after = AuditEvent.objects.get(action="provider_config.update").metadata["changes"]["base_url"]["after"]
    assert SECRET not in after and "api-version=2024" in after and "redacted" in after


# -- the base-URL permission and the confirmation ---------------------------------------------------


def test_without_the_base_url_permission_the_base_url_is_read_only(client):
    staff = _staff("view_providerconfig", "change_providerconfig")
    client.force_login(staff)
    openai = ProviderConfig.objects.get(name="openai")
    page = client.get(_change_url(openai)).content.decode()
    assert 'name="base_url"' not in page and 'name="confirm_base_url"' not in page

    response = client.post(_change_url(openai), _form_data(openai, base_url="https://evil.example.com/v1", timeout_seconds="40"))
    assert response.status_code == 302
    openai.refresh_from_db()
    assert openai.base_url == "" and openai.timeout_seconds == 40
    assert list(_updates(openai).get().metadata["changes"]) == ["timeout_seconds"]


def test_the_service_refuses_a_base_url_change_without_the_permission():
    staff = _staff("change_providerconfig")
    openai = ProviderConfig.objects.get(name="openai")
    openai.base_url = "https://evil.example.com/v1"
    with pytest.raises(PermissionDenied, match="change_provider_base_url"):
        provider_config_save(actor=staff, provider=openai, source="admin")
    assert ProviderConfig.objects.get(name="openai").base_url == "" and not AuditEvent.objects.exists()


def test_a_base_url_change_needs_a_confirmation_naming_the_new_host(client):
    staff = _staff("view_providerconfig", "change_providerconfig", "change_provider_base_url")
    client.force_login(staff)
    openai = ProviderConfig.objects.get(name="openai")
    provider_key_create(user=make_user("keyholder"), provider_name="openai", key=SECRET)
    new_url = "https://llm-proxy.example.com/v1"

    first = client.post(_change_url(openai), _form_data(openai, base_url=new_url))
    text = first.content.decode()
    assert first.status_code == 200
    assert "will be sent to" in text and new_url in text and "1 key(s)" in text and SECRET not in text
    openai.refresh_from_db()
    assert openai.base_url == "" and not _updates(openai).exists()

    second = client.post(_change_url(openai), _form_data(openai, base_url=new_url, confirm_base_url="on"))
    assert second.status_code == 302
    openai.refresh_from_db()
    assert openai.base_url == new_url
    event = _updates(openai).get()
    assert event.actor == staff and event.metadata["changes"] == {"base_url": {"before": "", "after": new_url}}


# -- the models field -------------------------------------------------------------------------------


def test_models_are_edited_one_per_line():
    openai = ProviderConfig.objects.get(name="openai")
    form = ProviderConfigForm(instance=openai)
    assert form["model_names"].value() == "gpt-4o-mini\ngpt-4.1-mini"  # one per line, not JSON
    assert "gpt-4o-mini\ngpt-4.1-mini</textarea>" in str(form["model_names"])

    data = _form_data(openai, model_names="  gpt-4o-mini \r\n\r\ngpt-5-mini\ngpt-4o-mini\n")
    form = ProviderConfigForm(data=data, instance=openai)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["model_names"] == ["gpt-4o-mini", "gpt-5-mini"]

    form = ProviderConfigForm(data=_form_data(openai, model_names="gpt 4o"), instance=openai)
    assert not form.is_valid() and "without spaces" in str(form.errors["model_names"])

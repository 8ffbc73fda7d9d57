"""Provider configs in the admin: every change goes through provider_config_save (validated, audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.admin_display import WrappingListMixin, shortened
from apps.providers.models import BASE_URL_PERMISSION, ProviderConfig
from apps.providers.services import provider_config_delete, provider_config_save

MODEL_NAME_MAX_LENGTH = 100


class ModelNamesField(forms.CharField):
    """One model name per line in a textarea; the model field stores them as a JSON list."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40, "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(str(name) for name in value)
        return value

    def to_python(self, value) -> list[str]:
        if isinstance(value, list):
            return value
        names: list[str] = []
        for line in (value or "").splitlines():
            name = line.strip()
            if name and name not in names:
                names.append(name)
        return names

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        for name in value:
            if len(name) > MODEL_NAME_MAX_LENGTH:
                raise ValidationError(f"A model name has at most {MODEL_NAME_MAX_LENGTH} characters: {name[:40]}…")
            if any(ch.isspace() for ch in name) or not name.isprintable():
                raise ValidationError(f"One model name per line, without spaces: {name[:60]!r}.")


class ProviderConfigForm(forms.ModelForm):
    model_names = ModelNamesField(
        label="Models", required=False, help_text="Model names offered to users, one per line (e.g. gpt-4o-mini)."
    )
    confirm_base_url = forms.BooleanField(
        required=False,
        label="Send users' keys to the new base URL",
        help_text="Needed when the base URL changes: every stored key for this provider goes to the new host.",
    )

    class Meta:
        model = ProviderConfig
        fields = "__all__"

        @staticmethod
        def formfield_callback(field, **kwargs):
            # A base URL typed without a scheme means https (Django 6's default; no warning on 5.2).
            if isinstance(field, models.URLField):
                kwargs.setdefault("assume_scheme", "https")
            return field.formfield(**kwargs)

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "base_url" in self.changed_data and not cleaned.get("confirm_base_url"):
            new = cleaned.get("base_url") or "the SDK default (OPENAI_BASE_URL / ANTHROPIC_BASE_URL or the vendor's host)"
            keys = self.instance.keys.count()
            self.add_error(
                "confirm_base_url",
                f"From the next call, the stored API keys of this provider's users ({keys} key(s)) will be sent to "
                f"{new} instead of {self.instance.base_url or 'the SDK default'}. Tick the box and save again to confirm.",
            )
        return cleaned


@admin.register(ProviderConfig)
class ProviderConfigAdmin(WrappingListMixin, admin.ModelAdmin):
    form = ProviderConfigForm
    list_display = ("name", "kind", "enabled", "default_model", "fallback_order", "short_base_url", "health")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled", "fallback_order")
    search_fields = ("name", "display_name")
    actions = ["reset_breaker"]
    # A base URL typed without a scheme means https (Django 6's default; no warning on 5.2).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="base URL", ordering="base_url")
    def short_base_url(self, obj: ProviderConfig) -> str:
        return shortened(obj.base_url)

    def _may_change_base_url(self, request) -> bool:
        return request.user.has_perm(BASE_URL_PERMISSION)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not self._may_change_base_url(request):
            readonly.append("base_url")
        return readonly

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "confirm_base_url"]
        if obj is not None and self._may_change_base_url(request):
            fields.insert(fields.index("base_url") + 1, "confirm_base_url")
        return fields

    def save_model(self, request, obj, form, change):
        # Through the service: validated (scheme rules, permission) and audited with before/after values.
        # The form has already checked what the service checks (base_url is read-only without the
        # permission), so the service refusing here would be a bug, not an operator's mistake.
        provider_config_save(actor=request.user, provider=obj, source="admin")

    def delete_model(self, request, obj):
        provider_config_delete(actor=request.user, provider=obj, source="admin")

    def delete_queryset(self, request, queryset):
        for provider in queryset:
            provider_config_delete(actor=request.user, provider=provider, source="admin")

    @admin.display(description="health")
    def health(self, obj: ProviderConfig) -> str:
        from apps.providers.health import health_label, provider_health

        return health_label(provider_health(obj))

    @admin.action(description="Reset circuit breaker and cool-downs", permissions=["change"])
    def reset_breaker(self, request, queryset):
        from apps.providers.services import provider_breaker_reset

        for provider in queryset:
            provider_breaker_reset(provider=provider, actor=request.user)
        self.message_user(request, f"Reset {queryset.count()} provider(s).", messages.SUCCESS)

from django.contrib import admin, messages
from django.db import models

from apps.providers.models import ProviderConfig


@admin.register(ProviderConfig)
class ProviderConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "default_model", "fallback_order", "base_url", "health")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled", "fallback_order")
    search_fields = ("name", "display_name")
    actions = ["reset_breaker"]
    # A base URL typed without a scheme means https (Django 6's default; no warning on 5.2).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="health (breaker · success rate · p50)")
    def health(self, obj: ProviderConfig) -> str:
        from apps.providers.health import health_label, provider_health

        return health_label(provider_health(obj))

    @admin.action(description="Reset circuit breaker and cool-downs", permissions=["change"])
    def reset_breaker(self, request, queryset):
        from apps.providers.services import provider_breaker_reset

        for provider in queryset:
            provider_breaker_reset(provider=provider, actor=request.user)
        self.message_user(request, f"Reset {queryset.count()} provider(s).", messages.SUCCESS)

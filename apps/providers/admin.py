from django.contrib import admin

from apps.providers.models import ProviderConfig


@admin.register(ProviderConfig)
class ProviderConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "default_model", "fallback_order", "base_url")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled", "fallback_order")
    search_fields = ("name", "display_name")

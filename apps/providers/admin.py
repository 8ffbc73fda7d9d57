from django.contrib import admin
from django.db import models

from apps.providers.models import ProviderConfig


@admin.register(ProviderConfig)
class ProviderConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "default_model", "fallback_order", "base_url")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled", "fallback_order")
    search_fields = ("name", "display_name")
    # A base URL typed without a scheme means https (Django 6's default; no warning on 5.2).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

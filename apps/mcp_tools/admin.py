from django.contrib import admin, messages

from apps.mcp_tools.models import ToolRegistration
from apps.mcp_tools.services import tool_registration_update


@admin.register(ToolRegistration)
class ToolRegistrationAdmin(admin.ModelAdmin):
    """Rows come from code (tool_registry_sync); operators switch tools on and off and adjust descriptions."""

    list_display = ("name", "kind", "app_label", "enabled", "available", "has_override", "updated_at")
    list_filter = ("kind", "enabled", "available", "app_label")
    search_fields = ("name", "default_description", "description_override", "notes")
    fields = ("name", "kind", "app_label", "available", "default_description", "enabled", "description_override", "notes")
    readonly_fields = ("name", "kind", "app_label", "available", "default_description", "created_at", "updated_at")
    actions = ["enable_selected", "disable_selected"]

    @admin.display(boolean=True, description="description overridden")
    def has_override(self, obj: ToolRegistration) -> bool:
        return bool(obj.description_override.strip())

    def has_add_permission(self, request):
        return False  # rows follow the code

    def has_delete_permission(self, request, obj=None):
        return False  # a deleted row would come back on the next sync; disable the tool instead

    def save_model(self, request, obj, form, change):
        # Through the service, so the change is audited with the operator as actor.
        tool_registration_update(
            actor=request.user,
            name=obj.name,
            enabled=obj.enabled,
            description_override=obj.description_override,
            notes=obj.notes,
        )

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        names = list(queryset.values_list("name", flat=True))
        for name in names:
            tool_registration_update(actor=request.user, name=name, enabled=enabled)
        state = "enabled" if enabled else "disabled"
        self.message_user(request, f"{len(names)} tool(s) {state}.", messages.SUCCESS)

    @admin.action(description="Enable selected tools")
    def enable_selected(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected tools")
    def disable_selected(self, request, queryset):
        self._set_enabled(request, queryset, False)

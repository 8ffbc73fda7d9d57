from django.contrib import admin

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is evidence, so nobody edits or deletes it from the console."""

    list_display = ("created_at", "actor_username", "action", "target_type", "target_id", "outcome", "request_id")
    list_filter = ("outcome", "action", "target_type")
    search_fields = ("actor_username", "action", "target_id", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

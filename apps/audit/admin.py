from django.contrib import admin

from apps.audit.models import AuditEvent, UsageRecord
from apps.audit.selectors import usage_cache_summary
from apps.core.admin_display import WrappingListMixin, shortened


@admin.register(AuditEvent)
class AuditEventAdmin(WrappingListMixin, admin.ModelAdmin):
    """Read-only: the trail is evidence, so nobody edits or deletes it from the console."""

    # Outcome before the long columns and the target in one column: with cells that wrap, every
    # column (the request id too, whole, so it can be copied) fits a laptop-width window.
    list_display = ("created_at", "actor_username", "action", "outcome", "target", "request_id")
    list_filter = ("outcome", "action", "target_type")
    search_fields = ("actor_username", "action", "target_id", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    @admin.display(description="target", ordering="target_type")
    def target(self, obj: AuditEvent) -> str:
        return shortened(f"{obj.target_type} {obj.target_id}".strip())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(WrappingListMixin, admin.ModelAdmin):
    """Read-only model-call attempts; the list starts with what the answer cache saved (every user, 30 days)."""

    change_list_template = "admin/audit/usagerecord/change_list.html"
    list_display = ("created_at", "user", "provider", "model", "outcome", "cache_status", "cost", "cost_saved", "latency_ms")
    list_filter = ("outcome", "cached", "cache_status", "provider")
    search_fields = ("user__username", "provider", "model")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = [f.name for f in UsageRecord._meta.fields]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "cache_summary": usage_cache_summary(days=30)}
        return super().changelist_view(request, extra_context=extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

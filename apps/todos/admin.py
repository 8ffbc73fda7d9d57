from django.contrib import admin
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.admin_display import WrappingListMixin, shortened
from apps.todos.models import PRIORITY_RANKS, Task


@admin.register(Task)
class TaskAdmin(WrappingListMixin, admin.ModelAdmin):
    """Operator edits are audited like any other write, with the operator as actor."""

    list_display = ("short_title", "owner", "priority", "completed", "due_date", "created_at")
    list_filter = ("completed", "priority")
    search_fields = ("title", "owner__username")
    raw_id_fields = ("owner", "task_list", "labels")
    readonly_fields = ("created_at", "updated_at", "completed_at", "priority_rank")

    @admin.display(description="title", ordering="title")
    def short_title(self, obj: Task) -> str:
        return shortened(obj.title)

    def save_model(self, request, obj, form, change):
        obj.priority_rank = PRIORITY_RANKS.get(obj.priority, 1)  # the sortable copy the views page by
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request.user,
                action="task.admin_change" if change else "task.admin_create",
                target=obj,
                metadata={"fields": sorted(form.changed_data), "owner": obj.owner.username},
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(actor=request.user, action="task.admin_delete", target=obj, metadata={"owner": obj.owner.username})
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.select_related("owner"):
                self.delete_model(request, obj)

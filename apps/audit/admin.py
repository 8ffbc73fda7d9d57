from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponse
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.audit.admin_mixins import AuditedAdminMixin
from apps.audit.models import AuditCheckpoint, AuditEvent, AuditReport, AuditVerification, UsageRecord
from apps.audit.selectors import usage_cache_summary
from apps.audit.services import audit_record
from apps.core.admin_display import WrappingListMixin, shortened


class ReadOnlyAdminMixin:
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, WrappingListMixin, admin.ModelAdmin):
    """Read-only: the trail is evidence, so nobody edits or deletes it from the console."""

    # Outcome before the long columns and the target in one column: with cells that wrap, every
    # column (the request id too, whole, so it can be copied) fits a laptop-width window.
    list_display = ("created_at", "actor_username", "action", "outcome", "target", "request_id")
    list_filter = ("outcome", "action", "target_type")
    search_fields = ("actor_username", "action", "target_id", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    actions = None

    @admin.display(description="target", ordering="target_type")
    def target(self, obj: AuditEvent) -> str:
        return shortened(f"{obj.target_type} {obj.target_id}".strip())

    def changelist_view(self, request, extra_context=None):
        last = AuditVerification.objects.first()
        if last is None:
            self.message_user(request, "The audit chain has not been verified yet (manage.py audit_verify).", messages.WARNING)
        elif last.ok:
            self.message_user(request, f"Audit chain last verified {last.created_at:%Y-%m-%d %H:%M:%S} UTC: ok "
                              f"({last.checked_rows} rows, {last.checked_checkpoints} checkpoints).", messages.SUCCESS)  # fmt: skip
        else:
            self.message_user(request, f"Audit chain last verified {last.created_at:%Y-%m-%d %H:%M:%S} UTC: BROKEN — "
                              f"{last.problem}", messages.ERROR)  # fmt: skip
        self._spool_message(request)
        return super().changelist_view(request, extra_context)

    def _spool_message(self, request) -> None:
        """Usage and audit entries still outside the database (a failed save), if any: LLEN / a directory read."""
        from apps.audit.spool import spool_status

        for store, counts in spool_status().items():
            waiting, dead = counts["pending"], counts["dead"]
            if waiting < 0 or dead < 0:
                self.message_user(request, f"The {store} audit spool cannot be read.", messages.ERROR)
            elif dead:
                self.message_user(request, f"Audit spool ({store}): {dead} entries set aside as unwritable, "
                                  f"{waiting} waiting — see the log, then manage.py audit_spool --requeue-dead.",
                                  messages.ERROR)  # fmt: skip
            elif waiting:
                self.message_user(request, f"Audit spool ({store}): {waiting} entries wait to be written "
                                  "(the drain runs every minute; manage.py audit_spool).", messages.WARNING)  # fmt: skip


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


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("last_id", "first_id", "row_count", "created_at", "purged", "digest")
    readonly_fields = [f.name for f in AuditCheckpoint._meta.fields]
    actions = None


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "ok", "checked_rows", "checked_checkpoints", "problem")
    readonly_fields = [f.name for f in AuditVerification._meta.fields]
    actions = None


@admin.register(AuditReport)
class AuditReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("period", "period_start", "empty", "created_at", "emailed_at")
    list_filter = ("period", "empty")
    fields = ("period", "period_start", "period_end", "empty", "created_at", "emailed_at", "summary")
    readonly_fields = fields
    actions = ["download_csv", "download_html"]  # view-only otherwise: reports are made by the task

    def _download(self, queryset, kind: str):
        report = queryset.order_by("-period_start").first()  # the newest of the selected ones
        body = report.csv if kind == "csv" else report.html
        response = HttpResponse(body, content_type="text/csv" if kind == "csv" else "text/html")
        response["Content-Disposition"] = f'attachment; filename="report-{report.period}-{report.period_start:%Y-%m-%d}.{kind}"'
        return response

    @admin.action(description="Download the report as CSV")
    def download_csv(self, request, queryset):
        return self._download(queryset, "csv")

    @admin.action(description="Download the report as HTML")
    def download_html(self, request, queryset):
        return self._download(queryset, "html")


# Schedules (reports, checkpoints, purge) are edited here: every change goes on the trail.
for _model in (PeriodicTask, CrontabSchedule, IntervalSchedule):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(PeriodicTask)
class AuditedPeriodicTaskAdmin(AuditedAdminMixin, beat_admin.PeriodicTaskAdmin):
    audit_action = "schedule.periodic_task"

    # The toolkit's bulk actions write with queryset.update(), past save_model: audited here.
    def enable_tasks(self, request, queryset):
        parent = super().enable_tasks
        return self.audited_bulk_update(request, queryset, lambda rows: parent(request, rows))

    def disable_tasks(self, request, queryset):
        parent = super().disable_tasks
        return self.audited_bulk_update(request, queryset, lambda rows: parent(request, rows))

    def toggle_tasks(self, request, queryset):
        parent = super().toggle_tasks
        return self.audited_bulk_update(request, queryset, lambda rows: parent(request, rows))

    def run_tasks(self, request, queryset):
        with transaction.atomic():
            for task in queryset:
                audit_record(actor=request.user, action=f"{self.audit_action}.admin_run", target=task,
                             metadata={"task": task.task[:200], "object": str(task)[:200]})  # fmt: skip
        return super().run_tasks(request, queryset)


@admin.register(CrontabSchedule)
class AuditedCrontabScheduleAdmin(AuditedAdminMixin, beat_admin.CrontabScheduleAdmin):
    audit_action = "schedule.crontab"


@admin.register(IntervalSchedule)
class AuditedIntervalScheduleAdmin(AuditedAdminMixin, beat_admin.IntervalScheduleAdmin):
    audit_action = "schedule.interval"

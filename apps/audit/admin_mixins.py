"""AuditedAdminMixin: every add, change and delete in an admin writes an audit event with before/after values.

Use it first in the bases of any ModelAdmin whose changes must be on the trail::

    @admin.register(LimitPolicy)
    class LimitPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
        audit_action = "limit_policy"            # events: limit_policy.admin_create / _update / _delete
        audit_secret_fields = ("key_hash",)      # shown as "[redacted]" (or last 4 with audit_last4_fields)

Changed fields are compared on the model's concrete fields before and after the save; a field
whose name names a secret (key, token, password, ciphertext ...), or is listed in
``audit_secret_fields``, is never written: its change shows as "[redacted]" (or its last 4
characters for ``audit_last4_fields``). The event is written in the admin's own transaction,
so the change and its record commit together.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from apps.audit.services import REDACTED, _is_secret_field, audit_record


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


def model_snapshot(obj: models.Model) -> dict[str, Any]:
    return {field.attname: _plain(getattr(obj, field.attname)) for field in obj._meta.concrete_fields}


class AuditedAdminMixin:
    audit_action: str = ""
    audit_secret_fields: tuple[str, ...] = ()
    audit_last4_fields: tuple[str, ...] = ()

    def _audit_action(self, obj, verb: str) -> str:
        return f"{self.audit_action or obj._meta.model_name}.admin_{verb}"

    def _audit_value(self, name: str, value: Any) -> Any:
        if name in self.audit_last4_fields:
            return f"…{str(value)[-4:]}" if value else ""
        if name in self.audit_secret_fields or _is_secret_field(name, value):
            return REDACTED
        return value

    def audit_changes(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            name: {"before": self._audit_value(name, before.get(name)), "after": self._audit_value(name, value)}
            for name, value in after.items()
            if before.get(name) != value
        }

    def save_model(self, request, obj, form, change):
        before = {}
        if change and obj.pk is not None:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = model_snapshot(stored) if stored is not None else {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            changes = self.audit_changes(before, model_snapshot(obj))
            if change and not changes:
                return
            audit_record(
                actor=request.user,
                action=self._audit_action(obj, "update" if change else "create"),
                target=obj,
                metadata={"changes": changes, "object": str(obj)[:200]},
            )

    def save_related(self, request, form, formsets, change):
        # Many-to-many fields change here, after save_model: record them too.
        obj = form.instance
        m2m = [f for f in obj._meta.many_to_many if f.name in form.cleaned_data]
        before = {f.name: sorted(v.pk for v in getattr(obj, f.name).all()) for f in m2m} if change else {}
        super().save_related(request, form, formsets, change)
        after = {f.name: sorted(v.pk for v in getattr(obj, f.name).all()) for f in m2m}
        changes = self.audit_changes(before, after) if change else {}
        if changes:
            audit_record(actor=request.user, action=self._audit_action(obj, "update"), target=obj,
                         metadata={"changes": changes, "object": str(obj)[:200]})  # fmt: skip

    def audited_bulk_update(self, request, queryset, update):
        """Run an action that changes rows with ``queryset.update`` (which skips save_model), and
        write the same update event per changed row, in one transaction with the change."""
        with transaction.atomic():
            manager = queryset.model._default_manager
            rows = list(manager.select_for_update().filter(pk__in=list(queryset.values_list("pk", flat=True))))
            before = {obj.pk: model_snapshot(obj) for obj in rows}
            result = update(manager.filter(pk__in=before))
            for obj in manager.filter(pk__in=before):
                changes = self.audit_changes(before[obj.pk], model_snapshot(obj))
                if changes:
                    audit_record(actor=request.user, action=self._audit_action(obj, "update"), target=obj,
                                 metadata={"changes": changes, "object": str(obj)[:200]})  # fmt: skip
        return result

    def delete_model(self, request, obj):
        with transaction.atomic():
            snapshot = {k: self._audit_value(k, v) for k, v in model_snapshot(obj).items()}
            audit_record(actor=request.user, action=self._audit_action(obj, "delete"), target=obj,
                         metadata={"before": snapshot, "object": str(obj)[:200]})  # fmt: skip
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                snapshot = {k: self._audit_value(k, v) for k, v in model_snapshot(obj).items()}
                audit_record(actor=request.user, action=self._audit_action(obj, "delete"), target=obj,
                             metadata={"before": snapshot, "object": str(obj)[:200]})  # fmt: skip
            super().delete_queryset(request, queryset)

"""Append-only on PostgreSQL (a trigger), hashes for rows written before the chain, and the report/seal/purge schedules."""

from django.db import migrations

PURGE_FLAG = "todoassist.audit_purge"

TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
    -- The retention purge sets this flag for its own transaction (SET LOCAL); nothing else may.
    IF current_setting('{PURGE_FLAG}', true) = 'on' THEN
        RETURN COALESCE(NEW, OLD);
    END IF;
    -- Deleting a user sets actor_id to NULL (SET_NULL); actor_id is outside the row hash.
    -- (Through to_jsonb: the checkpoint table has no actor_id, and PL/pgSQL does not short-circuit.)
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_auditevent' THEN
        IF (to_jsonb(NEW) ->> 'actor_id') IS NULL
           AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_auditcheckpoint;
DROP FUNCTION IF EXISTS audit_append_only();
"""


def hash_existing_rows(apps, schema_editor):
    from apps.audit.chain import HASHED_FIELDS, row_hash

    AuditEvent = apps.get_model("audit", "AuditEvent")
    for event in AuditEvent.objects.filter(row_hash="").iterator():
        hashed = row_hash(**{name: getattr(event, name) for name in HASHED_FIELDS})
        AuditEvent.objects.filter(pk=event.pk).update(row_hash=hashed)


def triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def triggers_reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE_SQL, params=None)


SCHEDULES = [
    # name, task, crontab (minute, hour, day_of_week), kwargs
    ("audit: daily report", "apps.audit.tasks.audit_report_task", ("15", "0", "*"), '{"period": "daily"}'),
    ("audit: weekly report", "apps.audit.tasks.audit_report_task", ("30", "0", "1"), '{"period": "weekly"}'),
    ("audit: seal checkpoint", "apps.audit.tasks.audit_checkpoint_seal_task", ("*", "*", "*"), "{}"),
    ("audit: retention purge", "apps.audit.tasks.audit_retention_purge_task", ("45", "3", "*"), "{}"),
    ("audit: verify chain", "apps.audit.tasks.audit_verify_task", ("0", "4", "*"), "{}"),
]


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, (minute, hour, dow), kwargs in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week=dow, day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab, "kwargs": kwargs})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_trail_chain_reports"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(hash_existing_rows, migrations.RunPython.noop),
        migrations.RunPython(triggers, triggers_reverse),
        migrations.RunPython(create_schedules, remove_schedules),
    ]

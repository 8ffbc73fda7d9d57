"""Reminders whose stored moment lies outside years 1..9999 UTC never fire: clear their moment.

Before 04f8d69 PostgreSQL could store such a moment (a reminder at 9999-12-31T23:59-12:00, or a
relative one pushed past the year's end by a time-zone change), and psycopg cannot read it back:
every later edit or time-zone change of its task was a 500. The current code sets such a moment
to none on reschedule; this does the same for rows stored before. SQLite never stored one (the
conversion failed first), so there is nothing to do there.
"""

from django.db import migrations


def clear_unreadable_moments(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "UPDATE todos_reminder SET remind_at = NULL "
        "WHERE remind_at >= '10000-01-01 00:00:00+00'::timestamptz OR remind_at < '0001-01-01 00:00:00+00'::timestamptz"
    )


class Migration(migrations.Migration):
    dependencies = [("todos", "0006_view_indexes")]

    operations = [migrations.RunPython(clear_unreadable_moments, migrations.RunPython.noop)]

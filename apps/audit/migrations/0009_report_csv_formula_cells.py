"""Reports stored before CSV cells were made safe: a key cell (user, provider, model, tool name) that
starts like a spreadsheet formula gets its leading quote, as apps.core.csv_safety gives new ones."""

import csv
import io

from django.db import migrations

# A frozen copy of apps.core.csv_safety.FORMULA_STARTS: a migration must not change with the code.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
KEY_COLUMN = 1  # section,key,calls,input_tokens,output_tokens,cost: only the key is someone else's text


def _safe_csv(text: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(text, newline="")):
        if len(row) > KEY_COLUMN and row[KEY_COLUMN].startswith(FORMULA_STARTS):
            row[KEY_COLUMN] = "'" + row[KEY_COLUMN]
        writer.writerow(row)
    return out.getvalue()


def neutralise_stored_reports(apps, schema_editor):
    AuditReport = apps.get_model("audit", "AuditReport")
    for report in AuditReport.objects.only("pk", "csv").iterator(chunk_size=100):
        safe = _safe_csv(report.csv)
        if safe != report.csv:
            AuditReport.objects.filter(pk=report.pk).update(csv=safe)


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_spool_drain_schedule")]

    # Not reversed: putting the formulas back would only reopen the hole.
    operations = [migrations.RunPython(neutralise_stored_reports, migrations.RunPython.noop)]

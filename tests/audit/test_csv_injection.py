"""Every CSV we write (the stored and mailed report, the audit export) opens in a spreadsheet as text, not formulas."""

from __future__ import annotations

import csv
import importlib
import io
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditReport
from apps.audit.reports import audit_report_generate
from apps.audit.services import audit_limit_hit, audit_record, usage_record
from apps.core.csv_safety import csv_safe
from tests.factories import make_token, make_user

pytestmark = pytest.mark.django_db

# Django's username validator allows + - @ first; the others reach the database through create_user,
# an import or an older validator, and provider, model and tool names are operator or model text.
HOSTILE_NAMES = ['=HYPERLINK("http://x","y")', "+1", "@SUM(A1)", "-2+3", "\t=1", "\r=1"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _staff_api():
    staff = make_user("csv-boss")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(staff)}")
    return staff, api


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_text_starting_like_a_formula_gets_a_leading_quote(name):
    assert csv_safe(name) == "'" + name


@pytest.mark.parametrize("value", [-5, 0, 3.5, -0.25, Decimal("-0.00100000"), None, True, "", "alice", "a=b", "'=x"])
def test_numbers_and_plain_text_pass_unchanged(value):
    assert csv_safe(value) == value


@override_settings(AUDIT_REPORT_RECIPIENTS=["ops@example.com"], EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_the_report_csv_quotes_hostile_names_and_keeps_numbers_and_the_html_escapes_them():
    for name in HOSTILE_NAMES:
        usage_record(user=make_user(name), provider="=provider", model="-model", input_tokens=100, output_tokens=40,
                     cost="-0.0010")  # a credit: a negative number we write as a number  # fmt: skip
    someone = make_user("plain")
    audit_record(actor=someone, action="mcp.tool_call", target_type="mcp.tool", target_id="@tool")
    audit_limit_hit(user=someone, limit="+limit")

    report = audit_report_generate(period="daily", day=timezone.localdate())

    rows = _rows(report.csv)
    users = {row[1]: row[2:] for row in rows if row[0] == "user"}
    assert set(users) == {"'" + name for name in HOSTILE_NAMES}
    assert all(cells == ["1", "100", "40", "-0.00100000"] for cells in users.values())  # numbers unchanged
    assert ["provider", "'=provider", "6", "600", "240", "-0.00600000"] in rows
    assert ["model", "'=provider/-model", "6", "600", "240", "-0.00600000"] in rows
    assert ["tool", "'@tool", "1", "", "", ""] in rows and ["limit_hit", "'+limit", "1", "", "", ""] in rows
    assert not [cell for row in rows for cell in row if cell.startswith(("=", "+", "@", "\t", "\r"))]
    # The same bytes are what operators download and what is mailed to them.
    staff, api = _staff_api()
    assert api.get(f"/api/v1/audit/reports/{report.pk}/csv/").content.decode() == report.csv
    admin = Client()
    admin.force_login(staff)
    download = admin.post("/admin/audit/auditreport/", {"action": "download_csv", "_selected_action": [report.pk]})
    assert download.content.decode() == report.csv
    [message] = mail.outbox
    assert message.body == report.csv and message.attachments[0][1] == report.csv
    # The HTML page escapes the same names: no markup, no attribute break-out.
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)" in report.html and 'HYPERLINK("' not in report.html


def test_the_report_html_escapes_markup_in_names():
    usage_record(user=make_user("<img src=x onerror=alert(1)>"), provider="<b>p</b>", model="m", input_tokens=1,
                 output_tokens=1, cost="0")  # fmt: skip

    report = audit_report_generate(period="daily", day=timezone.localdate())

    assert "<img" not in report.html and "<b>p" not in report.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in report.html


def test_the_audit_export_quotes_hostile_names_and_keeps_ids_as_numbers():
    _, api = _staff_api()  # staff export every user's events
    events = [audit_record(actor=make_user(name), action="task.create", target_type="todos.task", target_id="=1+1")
              for name in HOSTILE_NAMES]  # fmt: skip

    response = api.get("/api/v1/audit/export/", {"action": "task.create"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert {r["actor_username"] for r in rows} == {"'" + name for name in HOSTILE_NAMES}
    assert {r["target_id"] for r in rows} == {"'=1+1"}
    assert sorted(int(r["id"]) for r in rows) == sorted(e.id for e in events)  # ids stay plain numbers
    assert all(r["created_at"][0].isdigit() and r["metadata"].startswith("{") for r in rows)


def test_reports_stored_before_the_fix_are_rewritten_by_the_migration():
    raw = 'section,key,calls,input_tokens,output_tokens,cost\r\nuser,"=HYPERLINK(""http://x"",""y"")",1,100,40,-0.00100000\r\n' \
          "user,+1,2,3,4,0.5\r\nuser,alice,1,1,1,0\r\n"  # fmt: skip
    report = AuditReport.objects.create(period="daily", period_start=timezone.now(), period_end=timezone.now(),
                                        csv=raw, html="")  # fmt: skip
    migration = importlib.import_module("apps.audit.migrations.0009_report_csv_formula_cells")

    migration.neutralise_stored_reports(django_apps, None)
    migration.neutralise_stored_reports(django_apps, None)  # a second run changes nothing more

    report.refresh_from_db()
    assert _rows(report.csv) == [
        ["section", "key", "calls", "input_tokens", "output_tokens", "cost"],
        ["user", "'=HYPERLINK(\"http://x\",\"y\")", "1", "100", "40", "-0.00100000"],
        ["user", "'+1", "2", "3", "4", "0.5"],
        ["user", "alice", "1", "1", "1", "0"],
    ]

"""REST API: the user's own usage and audit events (staff: everyone's), and the reports."""

from __future__ import annotations

import csv
import json

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.models import AuditEvent, AuditReport
from apps.audit.selectors import (
    audit_event_filtered,
    audit_report_list,
    usage_by_day,
    usage_cache_summary,
    usage_quota_status,
    usage_totals_by_conversation,
    usage_totals_by_model,
)
from apps.core.csv_safety import csv_safe
from apps.core.errors import NotFound, PermissionDenied
from apps.core.fields import QueryIntegerField, StrictCharField
from apps.core.pagination import validated_query
from apps.core.schema import error_responses


class UsageParamsSerializer(serializers.Serializer):
    days = QueryIntegerField(required=False, min_value=1, max_value=366, default=30)


UsageOutputSerializer = inline_serializer(
    name="Usage",
    fields={
        "days": inline_serializer(
            name="UsageDay",
            fields={
                "day": serializers.DateField(),
                "provider": serializers.CharField(),
                "input_tokens": serializers.IntegerField(),
                "output_tokens": serializers.IntegerField(),
                "cost": serializers.DecimalField(max_digits=14, decimal_places=8),
            },
            many=True,
        ),
        "models": inline_serializer(
            name="UsageModelTotal",
            fields={
                "provider": serializers.CharField(),
                "model": serializers.CharField(),
                "calls": serializers.IntegerField(),
                "input_tokens": serializers.IntegerField(),
                "output_tokens": serializers.IntegerField(),
                "cost": serializers.DecimalField(max_digits=14, decimal_places=8),
            },
            many=True,
        ),
        "conversations": inline_serializer(
            name="UsageConversationTotal",
            fields={
                "conversation_id": serializers.IntegerField(),
                "calls": serializers.IntegerField(),
                "input_tokens": serializers.IntegerField(),
                "output_tokens": serializers.IntegerField(),
                "cost": serializers.DecimalField(max_digits=14, decimal_places=8),
            },
            many=True,
        ),
        "quotas": inline_serializer(
            name="UsageQuota",
            fields={
                "provider": serializers.CharField(),
                "quota": serializers.CharField(),
                "unit": serializers.ChoiceField(choices=["tokens", "cost"]),
                "used": serializers.FloatField(),
                "limit": serializers.FloatField(allow_null=True),
                "percent": serializers.IntegerField(allow_null=True),
                "fraction": serializers.FloatField(allow_null=True),
                "resets_at": serializers.DateTimeField(allow_null=True),
                "used_tokens": serializers.IntegerField(allow_null=True),
                "limit_tokens": serializers.IntegerField(allow_null=True),
            },
            many=True,
        ),
        "cache": inline_serializer(
            name="UsageCache",
            fields={
                "hits": serializers.IntegerField(help_text="Model calls answered from the answer cache (nothing sent)."),
                "misses": serializers.IntegerField(help_text="Cacheable calls that were sent (and their answers kept)."),
                "calls_saved": serializers.IntegerField(),
                "hit_rate": serializers.FloatField(allow_null=True),
                "cost_saved": serializers.DecimalField(max_digits=14, decimal_places=8),
            },
        ),
    },
)


def _decimal_text(value) -> str:
    # Fixed-point, as the schema's pattern says: str() writes 0.00000001 as "1E-8".
    return format(value, "f")


class UsageApi(APIView):
    @extend_schema(
        operation_id="usage_retrieve",
        parameters=[UsageParamsSerializer],
        responses={200: UsageOutputSerializer, **error_responses(400)},
        summary="Your tokens and cost per day and provider, per model and per conversation, this month's quota use, and what the answer cache saved",
    )
    def get(self, request):
        params = validated_query(UsageParamsSerializer, request)
        days = [
            {**row, "day": row["day"].isoformat(), "cost": _decimal_text(row["cost"])}
            for row in usage_by_day(user=request.user, days=params["days"])
        ]
        models = [
            {**row, "cost": _decimal_text(row["cost"])} for row in usage_totals_by_model(user=request.user, days=params["days"])
        ]
        conversations = [
            {**row, "cost": _decimal_text(row["cost"])}
            for row in usage_totals_by_conversation(user=request.user, days=params["days"])
        ]
        cache = usage_cache_summary(user=request.user, days=params["days"])
        return Response(
            {
                "days": days,
                "models": models,
                "conversations": conversations,
                "quotas": usage_quota_status(user=request.user),
                "cache": {**cache, "cost_saved": _decimal_text(cache["cost_saved"])},
            }
        )


# -- audit events ---------------------------------------------------------------------------------

AUDIT_PAGE_MAX = 200
CSV_COLUMNS = ("id", "created_at", "actor_username", "action", "target_type", "target_id", "outcome",
               "request_id", "client_ip", "metadata")  # fmt: skip


class AuditFilterSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time.")
    until = serializers.DateTimeField(required=False, help_text="Events before this time.")
    action = StrictCharField(required=False, max_length=64, help_text='An action ("chat.turn"), or a prefix ending in "." ("provider.").')
    provider = StrictCharField(required=False, max_length=50)
    outcome = serializers.ChoiceField(required=False, choices=AuditEvent.Outcome.choices)
    user = StrictCharField(required=False, max_length=150, help_text="A user name (staff; others only ever see their own events).")


class AuditListParamsSerializer(AuditFilterSerializer):
    cursor = QueryIntegerField(required=False, min_value=1, help_text="The next_cursor of the previous page.")
    limit = QueryIntegerField(required=False, min_value=1, max_value=AUDIT_PAGE_MAX, default=50)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = list(CSV_COLUMNS)


def _events(request, params):
    return audit_event_filtered(
        user=request.user,
        since=params.get("since"),
        until=params.get("until"),
        action=params.get("action", ""),
        provider=params.get("provider", ""),
        outcome=params.get("outcome", ""),
        username=params.get("user", ""),
    )


def _list_params(request) -> dict:
    params = validated_query(AuditListParamsSerializer, request)
    # validated_query leaves limit/offset to the limit/offset paginator; this view pages by cursor.
    limit = request.query_params.get("limit")
    params["limit"] = int(limit) if limit else 50  # validated (1..AUDIT_PAGE_MAX) just above
    return params


class AuditEventListApi(APIView):
    @extend_schema(
        operation_id="audit_list",
        parameters=[AuditListParamsSerializer],
        responses={
            200: inline_serializer(
                name="AuditPage",
                fields={
                    "results": AuditEventSerializer(many=True),
                    "next_cursor": serializers.IntegerField(allow_null=True),
                },
            ),
            **error_responses(400),
        },
        summary="Your audit events, newest first (staff: everyone's); cursor-paginated",
    )
    def get(self, request):
        params = _list_params(request)
        events = _events(request, params)
        if params.get("cursor"):
            events = events.filter(id__lt=params["cursor"])
        page = list(events[: params["limit"] + 1])
        more = len(page) > params["limit"]
        page = page[: params["limit"]]
        return Response(
            {"results": AuditEventSerializer(page, many=True).data, "next_cursor": page[-1].id if more else None}
        )


class _Echo:
    def write(self, value):
        return value


def _csv_rows(events):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=1000):
        cells = [event.id, event.created_at.isoformat(), event.actor_username, event.action, event.target_type,
                 event.target_id, event.outcome, event.request_id, event.client_ip or "",
                 json.dumps(event.metadata, sort_keys=True)]  # fmt: skip
        yield writer.writerow([csv_safe(cell) for cell in cells])  # user names, target and request ids: not ours


class AuditEventExportApi(APIView):
    @extend_schema(
        operation_id="audit_export",
        parameters=[AuditFilterSerializer],
        responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR), **error_responses(400)},
        summary="The same events as CSV, streamed (every page, newest first)",
    )
    def get(self, request):
        params = validated_query(AuditFilterSerializer, request)
        response = StreamingHttpResponse(_csv_rows(_events(request, params)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit.csv"'
        return response


# -- reports -----------------------------------------------------------------------------------------


class AuditReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditReport
        fields = ["id", "period", "period_start", "period_end", "created_at", "empty", "emailed_at", "summary"]


def _require_staff(request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Reports are for staff.", code="staff_only")


class AuditReportListApi(APIView):
    @extend_schema(
        operation_id="audit_reports_list",
        responses={200: AuditReportSerializer(many=True), **error_responses()},
        summary="The latest 100 reports (staff)",
    )
    def get(self, request):
        _require_staff(request)
        return Response(AuditReportSerializer(audit_report_list()[:100], many=True).data)


class _AuditReportDownloadApi(APIView):
    kind = "csv"

    def get(self, request, report_id: int):
        _require_staff(request)
        report = audit_report_list().filter(pk=report_id).first()
        if report is None:
            raise NotFound("Report not found.", code="report_not_found", extra={"report_id": report_id})
        kind = self.kind
        content_type = "text/csv; charset=utf-8" if kind == "csv" else "text/html; charset=utf-8"
        response = HttpResponse(report.csv if kind == "csv" else report.html, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="report-{report.period}-{report.period_start:%Y-%m-%d}.{kind}"'
        return response


class AuditReportCsvApi(_AuditReportDownloadApi):
    kind = "csv"

    @extend_schema(
        operation_id="audit_reports_csv",
        responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR), **error_responses(400, 404)},
        summary="One report's CSV (staff)",
    )
    def get(self, request, report_id: int):
        return super().get(request, report_id)


class AuditReportHtmlApi(_AuditReportDownloadApi):
    kind = "html"

    @extend_schema(
        operation_id="audit_reports_html",
        responses={(200, "text/html"): OpenApiResponse(response=OpenApiTypes.STR), **error_responses(400, 404)},
        summary="One report's HTML summary (staff)",
    )
    def get(self, request, report_id: int):
        return super().get(request, report_id)

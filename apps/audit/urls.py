from django.urls import path

from apps.audit import apis

urlpatterns = [
    path("usage/", apis.UsageApi.as_view(), name="usage"),
    path("audit/", apis.AuditEventListApi.as_view(), name="audit-list"),
    path("audit/export/", apis.AuditEventExportApi.as_view(), name="audit-export"),
    path("audit/reports/", apis.AuditReportListApi.as_view(), name="audit-reports"),
    path("audit/reports/<int:report_id>/csv/", apis.AuditReportDownloadApi.as_view(), {"kind": "csv"}, name="audit-report-csv"),
    path("audit/reports/<int:report_id>/html/", apis.AuditReportDownloadApi.as_view(), {"kind": "html"}, name="audit-report-html"),
]

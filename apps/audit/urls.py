from django.urls import path

from apps.audit import apis

urlpatterns = [
    path("usage/", apis.UsageApi.as_view(), name="usage"),
    path("audit/", apis.AuditEventListApi.as_view(), name="audit-list"),
    path("audit/export/", apis.AuditEventExportApi.as_view(), name="audit-export"),
    path("audit/reports/", apis.AuditReportListApi.as_view(), name="audit-reports"),
    path("audit/reports/<int:report_id>/csv/", apis.AuditReportCsvApi.as_view(), name="audit-report-csv"),
    path("audit/reports/<int:report_id>/html/", apis.AuditReportHtmlApi.as_view(), name="audit-report-html"),
]

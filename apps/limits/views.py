"""The answer django-ratelimit gives (login form, key creation): 429 with Retry-After, not 403."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from apps.audit.services import audit_record


def ratelimited(request, exception=None) -> HttpResponse:
    user = getattr(request, "user", None)
    try:
        audit_record(actor=user, action="limit.exceeded", outcome="denied",
                     metadata={"policy": "django_ratelimit", "path": request.path[:200]})
    except Exception:  # noqa: BLE001 - a refused request is answered whatever the audit store does
        pass
    retry = "60"
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"error": {"code": "rate_limited", "message": "Too many attempts; try again in a minute.", "extra": {}}},
            status=429,
        )
    else:
        response = HttpResponse("Too many attempts; try again in a minute.", status=429, content_type="text/plain")
    response["Retry-After"] = retry
    return response

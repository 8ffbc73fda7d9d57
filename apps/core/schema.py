"""OpenAPI helpers: the error shape, declared on every endpoint (drf-spectacular leaves errors out otherwise)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "extra": serializers.DictField(),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "Invalid input.",
    401: "Missing, invalid, expired or revoked credentials.",
    403: "Not allowed (for example a missing CSRF token on a session request).",
    404: "Not found (including objects that belong to another user).",
    405: "Method not allowed.",
    409: "Conflict with the current state.",
    429: "Rate limited; see extra.retry_after.",
    502: "The upstream provider failed.",
    503: "Temporarily unavailable.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses for @extend_schema; 401, 403 and 405 apply to every authenticated API view."""
    wanted = sorted({401, 403, 405, *codes})
    return {code: OpenApiResponse(response=ErrorSerializer, description=_DESCRIPTIONS[code]) for code in wanted}


def paginated(serializer_class: type[serializers.Serializer], name: str):
    """The limit/offset page shape around a serializer, for views that paginate by hand."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def add_rate_limit_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: every write may be refused with a 429 (apps/limits: the
    per-user write limit; key creation's own limit), with Retry-After and the RateLimit fields."""
    headers = {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the request would be admitted."},
        "RateLimit-Policy": {"schema": {"type": "string"}, "description": 'e.g. "api-writes";q=60;w=60'},
        "RateLimit": {"schema": {"type": "string"}, "description": 'e.g. "api-writes";r=0;t=17'},
    }
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete"):
                operation.setdefault("responses", {}).setdefault(
                    "429",
                    {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        "description": _DESCRIPTIONS[429],
                        "headers": headers,
                    },
                )
    return result

"""Default API pagination: limit/offset, bounded, with strictly validated parameters."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

from apps.core.errors import ValidationFailed
from apps.core.fields import QueryIntegerField


class DefaultPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


class PageParamsSerializer(serializers.Serializer):
    """limit/offset query parameters; a bad value is a 400, not silently the default."""

    limit = QueryIntegerField(required=False, min_value=1, max_value=DefaultPagination.max_limit)
    offset = QueryIntegerField(required=False, min_value=0)


def validated_query(serializer_class: type[serializers.Serializer], request) -> dict:
    """Validate query parameters; a plain dict, since DRF treats "?x=" in a QueryDict as absent.

    A parameter given twice is refused rather than silently reduced to its last value.
    """
    repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
    if repeated:
        raise ValidationFailed(
            f"Give each query parameter once ({', '.join(repeated)} repeated).",
            extra={"fields": {name: ["Given more than once."] for name in repeated}},
        )
    params = serializer_class(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return {k: v for k, v in params.validated_data.items() if k not in ("limit", "offset")}


def paginate(request, view, queryset, serializer_class):
    paginator = DefaultPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)

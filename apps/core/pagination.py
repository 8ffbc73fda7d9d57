"""Default API pagination: limit/offset, bounded, with strictly validated parameters."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination


class DefaultPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


class PageParamsSerializer(serializers.Serializer):
    """limit/offset query parameters; a bad value is a 400, not silently the default."""

    limit = serializers.IntegerField(required=False, min_value=1, max_value=DefaultPagination.max_limit)
    offset = serializers.IntegerField(required=False, min_value=0)


def validated_query(serializer_class: type[serializers.Serializer], request) -> dict:
    """Validate query parameters; a plain dict, since DRF treats "?x=" in a QueryDict as absent."""
    params = serializer_class(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return {k: v for k, v in params.validated_data.items() if k not in ("limit", "offset")}


def paginate(request, view, queryset, serializer_class):
    paginator = DefaultPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)

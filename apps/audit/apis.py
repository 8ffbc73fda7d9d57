"""REST API: the user's own usage."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.selectors import usage_by_day, usage_quota_status
from apps.core.fields import QueryIntegerField
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
    },
)


class UsageApi(APIView):
    @extend_schema(
        operation_id="usage_retrieve",
        parameters=[UsageParamsSerializer],
        responses={200: UsageOutputSerializer, **error_responses(400)},
        summary="Your tokens and cost per day and provider, and this month's quota use",
    )
    def get(self, request):
        params = validated_query(UsageParamsSerializer, request)
        days = [
            {**row, "day": row["day"].isoformat(), "cost": str(row["cost"])}
            for row in usage_by_day(user=request.user, days=params["days"])
        ]
        return Response({"days": days, "quotas": usage_quota_status(user=request.user)})

"""REST API: the providers a user can pick, and their chosen provider + model."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import StrictCharField
from apps.core.ids import parse_object_id
from apps.core.schema import error_responses
from apps.keys.apis import KEY_ID_PARAMETER, ProviderKeyOutputSerializer
from apps.providers.selectors import provider_preference_get, providers_for_user
from apps.providers.services import provider_preference_set
from apps.providers.validation import provider_key_request_validation

ProviderHealthSerializer = inline_serializer(
    name="ProviderHealth",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "open", "probing", "cooling_down"]),
        "breaker": serializers.ChoiceField(choices=["closed", "open", "half_open"]),
        "consecutive_failures": serializers.IntegerField(),
        "breaker_retry_in_seconds": serializers.FloatField(),
        "cooldown_seconds": serializers.FloatField(),
        "success_rate": serializers.FloatField(allow_null=True),
        "p50_latency_ms": serializers.IntegerField(allow_null=True),
        "sample_size": serializers.IntegerField(),
        "last_probe": serializers.DictField(allow_null=True),
    },
)

ProviderListSerializer = inline_serializer(
    name="ProviderChoice",
    many=True,
    fields={
        "name": serializers.CharField(),
        "display_name": serializers.CharField(),
        "kind": serializers.CharField(),
        "models": serializers.ListField(child=serializers.CharField()),
        "default_model": serializers.CharField(),
        "has_usable_key": serializers.BooleanField(),
        "health": ProviderHealthSerializer,
    },
)

PreferenceOutputSerializer = inline_serializer(
    name="ProviderPreference",
    fields={
        "provider": serializers.CharField(),
        "model": serializers.CharField(),
        "has_usable_key": serializers.BooleanField(),
    },
)


class PreferenceInputSerializer(serializers.Serializer):
    provider = StrictCharField(not_blank=True, max_length=50)
    model = StrictCharField(required=False, allow_blank=True, max_length=100, default="")


def _preference_body(user) -> dict:
    provider, model = provider_preference_get(user=user)
    usable = next((p["has_usable_key"] for p in providers_for_user(user=user) if p["name"] == provider.name), False)
    return {"provider": provider.name, "model": model, "has_usable_key": usable}


class ProviderListApi(APIView):
    @extend_schema(
        operation_id="providers_list",
        responses={200: ProviderListSerializer, **error_responses()},
        summary="Enabled providers, their models, whether you have a usable key for each, and their health",
    )
    def get(self, request):
        return Response(providers_for_user(user=request.user))


class PreferenceApi(APIView):
    @extend_schema(
        operation_id="preferences_retrieve",
        responses={200: PreferenceOutputSerializer, **error_responses()},
        summary="Your chosen provider and model",
    )
    def get(self, request):
        return Response(_preference_body(request.user))

    @extend_schema(
        operation_id="preferences_update",
        request=PreferenceInputSerializer,
        responses={200: PreferenceOutputSerializer, **error_responses(400)},
        summary="Choose the provider and model for your next turns",
    )
    def put(self, request):
        data = PreferenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        provider_preference_set(
            user=request.user, provider_name=data.validated_data["provider"], model=data.validated_data["model"] or None
        )
        return Response(_preference_body(request.user))


class ProviderKeyValidateApi(APIView):
    @extend_schema(
        operation_id="keys_validate",
        parameters=[KEY_ID_PARAMETER],
        request=None,
        responses={202: ProviderKeyOutputSerializer, **error_responses(400, 404, 429, 503)},
        summary="Check the key with one cheap call to its provider",
        description=(
            "With a worker, the check is queued (503 when the task queue is unavailable). Without one, it runs "
            "once in the request with a short timeout; a provider that is busy or slow leaves a note saying when "
            "to try again, and until then this answers 429."
        ),
    )
    def post(self, request, key_id: str):
        key = provider_key_request_validation(user=request.user, key_id=parse_object_id(key_id, field="key_id"))
        return Response(ProviderKeyOutputSerializer(key).data, status=status.HTTP_202_ACCEPTED)

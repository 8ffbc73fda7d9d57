"""REST API for provider keys: the plaintext goes in once and never comes back out."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import ValidationFailed
from apps.core.fields import StrictCharField
from apps.core.ids import MAX_ID, parse_object_id
from apps.core.pagination import PageParamsSerializer, paginate, validated_query
from apps.core.schema import error_responses, paginated
from apps.keys.models import ProviderKey
from apps.keys.selectors import provider_key_get, provider_key_list
from apps.keys.vault import (
    KEY_MAX_LENGTH,
    KEY_MIN_LENGTH,
    LABEL_MAX_LENGTH,
    provider_key_create,
    provider_key_delete,
    provider_key_update_label,
)

KEY_ID_PARAMETER = OpenApiParameter(
    "key_id",
    type={"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    location=OpenApiParameter.PATH,
    description="The key's id.",
)


class ProviderKeyOutputSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="provider.name")

    class Meta:
        model = ProviderKey
        fields = (
            "id",
            "provider",
            "label",
            "last4",
            "status",
            "status_detail",
            "expires_at",
            "last_used_at",
            "last_validated_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


# What the vault accepts, stated in the schema: printable ASCII without spaces, 8-512 characters,
# with surrounding ASCII whitespace (trimmed) allowed. Same meaning in Python and ECMAScript.
KEY_PATTERN = rf"^[\t\n\v\f\r ]*[!-~]{{{KEY_MIN_LENGTH},{KEY_MAX_LENGTH}}}[\t\n\v\f\r ]*$"


class ProviderKeyCreateSerializer(serializers.Serializer):
    provider = StrictCharField(not_blank=True, max_length=50)
    key = StrictCharField(
        pattern=KEY_PATTERN,
        pattern_message=f"The key must be {KEY_MIN_LENGTH}–{KEY_MAX_LENGTH} printable characters without spaces.",
        min_length=KEY_MIN_LENGTH,
        max_length=KEY_MAX_LENGTH,
        write_only=True,
        style={"input_type": "password"},
    )
    label = StrictCharField(required=False, allow_blank=True, max_length=LABEL_MAX_LENGTH, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ProviderKeyUpdateSerializer(serializers.Serializer):
    label = StrictCharField(required=False, allow_blank=True, max_length=LABEL_MAX_LENGTH)


def _key_id(raw: str) -> int:
    return parse_object_id(raw, field="key_id")


class ProviderKeyListApi(APIView):
    @extend_schema(
        operation_id="keys_list",
        parameters=[PageParamsSerializer],
        responses={200: paginated(ProviderKeyOutputSerializer, "PaginatedProviderKeyList"), **error_responses(400)},
        summary="List your provider keys (masked)",
    )
    def get(self, request):
        validated_query(PageParamsSerializer, request)
        return paginate(request, self, provider_key_list(user=request.user), ProviderKeyOutputSerializer)

    @extend_schema(
        operation_id="keys_create",
        request=ProviderKeyCreateSerializer,
        responses={201: ProviderKeyOutputSerializer, **error_responses(400)},
        summary="Store a provider key (encrypted; never returned)",
    )
    def post(self, request):
        from apps.limits.attempts import key_create_check

        key_create_check(request)
        data = ProviderKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        key = provider_key_create(
            user=request.user,
            provider_name=values["provider"],
            key=values["key"],
            label=values["label"],
            expires_at=values["expires_at"],
        )
        return Response(ProviderKeyOutputSerializer(key).data, status=status.HTTP_201_CREATED)


class ProviderKeyDetailApi(APIView):
    @extend_schema(
        operation_id="keys_retrieve",
        parameters=[KEY_ID_PARAMETER],
        responses={200: ProviderKeyOutputSerializer, **error_responses(400, 404)},
        summary="Get a provider key (masked)",
    )
    def get(self, request, key_id: str):
        return Response(ProviderKeyOutputSerializer(provider_key_get(user=request.user, key_id=_key_id(key_id))).data)

    @extend_schema(
        operation_id="keys_partial_update",
        parameters=[KEY_ID_PARAMETER],
        request=ProviderKeyUpdateSerializer,
        responses={200: ProviderKeyOutputSerializer, **error_responses(400, 404)},
        summary="Change a key's label (a key itself cannot be changed: add a new one)",
    )
    def patch(self, request, key_id: str):
        pk = _key_id(key_id)
        if isinstance(request.data, dict) and "key" in request.data:
            raise ValidationFailed(
                "A stored key cannot be changed; add a new key and delete this one.",
                extra={"fields": {"key": ["Read-only."]}},
            )
        data = ProviderKeyUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "label" not in data.validated_data:
            return Response(ProviderKeyOutputSerializer(provider_key_get(user=request.user, key_id=pk)).data)
        key = provider_key_update_label(user=request.user, key_id=pk, label=data.validated_data["label"])
        return Response(ProviderKeyOutputSerializer(key).data)

    @extend_schema(
        operation_id="keys_destroy",
        parameters=[KEY_ID_PARAMETER],
        responses={204: None, **error_responses(400, 404)},
        summary="Delete a key (revokes it and wipes the ciphertext)",
    )
    def delete(self, request, key_id: str):
        provider_key_delete(user=request.user, key_id=_key_id(key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

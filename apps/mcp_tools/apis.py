"""Discovery: GET /api/v1/tools/ lists the enabled MCP tools, resources and prompts, through the in-process MCP client."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.schema import error_responses
from apps.mcp_tools.client import mcp_catalog


class ToolAnnotationsSerializer(serializers.Serializer):
    read_only_hint = serializers.BooleanField(allow_null=True)
    destructive_hint = serializers.BooleanField(allow_null=True)
    idempotent_hint = serializers.BooleanField(allow_null=True)
    open_world_hint = serializers.BooleanField(allow_null=True)


class ToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    input_schema = serializers.DictField(help_text="JSON Schema of the arguments.")
    output_schema = serializers.DictField(allow_null=True, help_text="JSON Schema of the structured result.")
    annotations = ToolAnnotationsSerializer()


class ResourceSerializer(serializers.Serializer):
    uri = serializers.CharField()
    name = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    mime_type = serializers.CharField(allow_null=True)


class ResourceTemplateSerializer(serializers.Serializer):
    uri_template = serializers.CharField(help_text="An RFC 6570 URI template, e.g. task://{task_id}.")
    name = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    mime_type = serializers.CharField(allow_null=True)


class PromptArgumentSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    required = serializers.BooleanField()


class PromptSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    arguments = PromptArgumentSerializer(many=True)


class ToolListApi(APIView):
    @extend_schema(
        operation_id="tools_list",
        responses={
            200: inline_serializer(
                name="ToolList",
                fields={
                    "tools": ToolSerializer(many=True),
                    "resources": ResourceSerializer(many=True),
                    "resource_templates": ResourceTemplateSerializer(many=True),
                    "prompts": PromptSerializer(many=True),
                },
            ),
            **error_responses(),
        },
        summary="List the MCP tools you can call, and the resources and prompts you can use (enabled ones)",
    )
    def get(self, request):
        return Response(mcp_catalog(user=request.user, caller="discovery"))

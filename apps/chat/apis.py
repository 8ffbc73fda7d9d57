"""REST API for the chat and conversations."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.chat.models import Conversation, Message
from apps.chat.selectors import conversation_get, conversation_list, message_list
from apps.chat.services import chat_turn, chat_turn_stream, conversation_delete
from apps.core.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from apps.core.ids import MAX_ID, parse_object_id
from apps.core.localcache import generations_prefetched
from apps.core.pagination import PageParamsSerializer, paginate, validated_query
from apps.core.schema import error_responses, paginated
from apps.core.streaming import sse_response

CONVERSATION_ID_PARAMETER = OpenApiParameter(
    "conversation_id",
    type={"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    location=OpenApiParameter.PATH,
    description="The conversation's id.",
)


class ChatInputSerializer(serializers.Serializer):
    conversation_id = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    # The limit is the service's (CHAT_MESSAGE_MAX_CHARS), stated here so the schema shows it.
    message = StrictCharField(not_blank=True, max_length=settings.CHAT_MESSAGE_MAX_CHARS)
    stream = StrictBooleanField(
        required=False, default=False, help_text="Answer as server-sent events (text/event-stream)."
    )


ChatAnswerSerializer = inline_serializer(
    name="ChatAnswer",
    fields={
        "conversation_id": serializers.IntegerField(),
        "reply": serializers.CharField(),
        "tool_calls": inline_serializer(
            name="ChatToolCall",
            fields={
                "name": serializers.CharField(),
                "arguments": serializers.JSONField(),
                "result": serializers.JSONField(),
                "is_error": serializers.BooleanField(),
            },
            many=True,
        ),
        "provider": serializers.CharField(),
        "model": serializers.CharField(),
        "usage": inline_serializer(
            name="ChatUsage",
            fields={
                "input_tokens": serializers.IntegerField(),
                "output_tokens": serializers.IntegerField(),
                "cost": serializers.FloatField(),
            },
        ),
        "cached": serializers.BooleanField(),
        "fallback_used": serializers.BooleanField(),
        "warnings": serializers.ListField(child=serializers.CharField()),
    },
)


# One server-sent event: `event` names its type and `data` is a JSON object of the payload shape.
CHAT_EVENT_PAYLOAD = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["conversation", "text", "tool_call", "done", "error"]},
        "conversation_id": {"type": "integer"},
        "code": {"type": "string"},
        "message": {"type": "string"},
        "delta": {"type": "string"},
        "name": {"type": "string"},
        "arguments": {},
        "result": {},
        "is_error": {"type": "boolean"},
        "answer": {"type": "object"},
    },
}
CHAT_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["conversation", "text", "tool_call", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": CHAT_EVENT_PAYLOAD},
    },
}


class MessageOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = (
            "id",
            "role",
            "content",
            "tool_calls",
            "tool_call_id",
            "tool_name",
            "is_error",
            "provider",
            "model",
            "input_tokens",
            "output_tokens",
            "created_at",
        )
        read_only_fields = fields


class ConversationOutputSerializer(serializers.ModelSerializer):
    turn_in_progress = serializers.BooleanField(
        read_only=True,
        help_text="A turn is being answered now; a new message is refused (409 turn_in_progress) until it is stored.",
    )

    class Meta:
        model = Conversation
        fields = ("id", "title", "created_at", "updated_at", "turn_in_progress")
        read_only_fields = fields


class ConversationDetailOutputSerializer(ConversationOutputSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(ConversationOutputSerializer.Meta):
        fields = (*ConversationOutputSerializer.Meta.fields, "messages")
        read_only_fields = fields

    def get_messages(self, obj) -> list[dict]:
        return MessageOutputSerializer(message_list(conversation=obj), many=True).data


def _no_cache(request) -> bool:
    """``Cache-Control: no-cache`` (or ``no-store``) asks for fresh answers: the answer cache is bypassed for the turn."""
    directives = {part.strip().split("=")[0].lower() for part in request.headers.get("Cache-Control", "").split(",")}
    return bool(directives & {"no-cache", "no-store"})


def _turn_generations() -> list[str]:
    """The shared generations a chat request reads (apps.core.localcache): the token's, the limit
    policy's, the route rows' and the tool registry's."""
    from apps.keys.selectors import verified_tokens
    from apps.limits.selectors import user_policies
    from apps.mcp_tools.selectors import registry_snapshot
    from apps.providers.selectors import route_inputs_cache

    return [verified_tokens.key, user_policies.key, route_inputs_cache.key, registry_snapshot.key]


class ChatApi(APIView):
    def dispatch(self, request, *args, **kwargs):
        # With Redis, one round trip for all of them instead of one each.
        with generations_prefetched(_turn_generations()):
            return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="chat_turn",
        request=ChatInputSerializer,
        parameters=[
            OpenApiParameter(
                "Cache-Control",
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="`no-cache` (or `no-store`): no answer of this turn comes from the answer cache.",
            )
        ],
        responses={
            (200, "application/json"): OpenApiResponse(ChatAnswerSerializer, description="The answer."),
            (200, "text/event-stream"): OpenApiResponse(
                CHAT_EVENT_SCHEMA,
                description="With stream=true: server-sent events `conversation`, `text` (delta), "
                "`tool_call`, then `done` carrying the same answer object; a turn that fails after the "
                "stream started ends with `error` (`code`, `message`) instead.",
            ),
            **error_responses(400, 404, 409),
        },
        summary="Send a message to the assistant",
        description="One turn at a time per conversation: while a turn is being answered, another message to "
        "the same conversation is refused with 409 `turn_in_progress` (nothing is stored); send it again "
        "after the answer. A streamed turn whose client goes away still runs to the end and is stored. "
        "`Cache-Control: no-cache` bypasses the answer cache for this turn; `cached` says whether the answer "
        "came from it.",
    )
    def post(self, request):
        data = ChatInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        no_cache = _no_cache(request)
        if values["stream"]:
            events = chat_turn_stream(
                user=request.user, conversation_id=values.get("conversation_id"), text=values["message"], stream=True,
                no_cache=no_cache,
            )
            return sse_response(request, events)
        answer = chat_turn(
            user=request.user, conversation_id=values.get("conversation_id"), text=values["message"], no_cache=no_cache
        )
        return Response(answer.as_dict())


class ConversationListApi(APIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[PageParamsSerializer],
        responses={200: paginated(ConversationOutputSerializer, "PaginatedConversationList"), **error_responses(400)},
        summary="List your conversations",
    )
    def get(self, request):
        validated_query(PageParamsSerializer, request)
        return paginate(request, self, conversation_list(user=request.user), ConversationOutputSerializer)


class ConversationDetailApi(APIView):
    @extend_schema(
        operation_id="conversations_retrieve",
        parameters=[CONVERSATION_ID_PARAMETER],
        responses={200: ConversationDetailOutputSerializer, **error_responses(400, 404)},
        summary="Get a conversation with its messages",
    )
    def get(self, request, conversation_id: str):
        pk = parse_object_id(conversation_id, field="conversation_id")
        return Response(ConversationDetailOutputSerializer(conversation_get(user=request.user, conversation_id=pk)).data)

    @extend_schema(
        operation_id="conversations_destroy",
        parameters=[CONVERSATION_ID_PARAMETER],
        responses={204: None, **error_responses(400, 404)},
        summary="Delete a conversation",
    )
    def delete(self, request, conversation_id: str):
        conversation_delete(user=request.user, conversation_id=parse_object_id(conversation_id, field="conversation_id"))
        return Response(status=status.HTTP_204_NO_CONTENT)

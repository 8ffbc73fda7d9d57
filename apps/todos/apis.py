"""REST API for tasks: validate, call one service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import StrictCharField
from apps.core.ids import MAX_ID, parse_object_id
from apps.core.pagination import PageParamsSerializer, paginate, validated_query
from apps.core.schema import error_responses, paginated
from apps.todos.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, Task
from apps.todos.selectors import TASK_ORDERINGS, TASK_STATUSES, task_get, task_list
from apps.todos.services import task_complete, task_create, task_delete, task_uncomplete, task_update

TASK_ID_PARAMETER = OpenApiParameter(
    "task_id",
    type={"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    location=OpenApiParameter.PATH,
    description="The task's id (a positive integer).",
)


class TaskOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = (
            "id",
            "title",
            "description",
            "completed",
            "completed_at",
            "priority",
            "due_date",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class TaskInputSerializer(serializers.Serializer):
    title = StrictCharField(not_blank=True, min_length=1, max_length=TITLE_MAX_LENGTH)
    description = StrictCharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False, default=Task.Priority.NORMAL)
    due_date = serializers.DateField(required=False, allow_null=True, default=None)


class TaskFilterSerializer(PageParamsSerializer):
    status = serializers.ChoiceField(choices=TASK_STATUSES, required=False, default="all")
    search = StrictCharField(required=False, max_length=200, allow_blank=True)
    due_before = serializers.DateField(required=False)
    due_after = serializers.DateField(required=False)
    ordering = serializers.ChoiceField(choices=tuple(TASK_ORDERINGS), required=False, default="-created")


def _task_id(raw: str) -> int:
    return parse_object_id(raw, field="task_id")


class TaskListApi(APIView):
    @extend_schema(
        operation_id="tasks_list",
        parameters=[TaskFilterSerializer],
        responses={200: paginated(TaskOutputSerializer, "PaginatedTaskList"), **error_responses(400)},
        summary="List your tasks",
    )
    def get(self, request):
        filters = validated_query(TaskFilterSerializer, request)
        return paginate(request, self, task_list(user=request.user, **filters), TaskOutputSerializer)

    @extend_schema(
        operation_id="tasks_create",
        request=TaskInputSerializer,
        responses={201: TaskOutputSerializer, **error_responses(400)},
        summary="Add a task",
    )
    def post(self, request):
        data = TaskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = task_create(user=request.user, **data.validated_data)
        return Response(TaskOutputSerializer(task).data, status=status.HTTP_201_CREATED)


class TaskDetailApi(APIView):
    @extend_schema(
        operation_id="tasks_retrieve",
        parameters=[TASK_ID_PARAMETER],
        responses={200: TaskOutputSerializer, **error_responses(400, 404)},
        summary="Get a task",
    )
    def get(self, request, task_id: str):
        task = task_get(user=request.user, task_id=_task_id(task_id))
        return Response(TaskOutputSerializer(task).data)

    @extend_schema(
        operation_id="tasks_update",
        parameters=[TASK_ID_PARAMETER],
        request=TaskInputSerializer,
        responses={200: TaskOutputSerializer, **error_responses(400, 404)},
        summary="Replace a task's editable fields",
    )
    def put(self, request, task_id: str):
        return self._update(request, task_id, partial=False)

    @extend_schema(
        operation_id="tasks_partial_update",
        parameters=[TASK_ID_PARAMETER],
        request=TaskInputSerializer(partial=True),
        responses={200: TaskOutputSerializer, **error_responses(400, 404)},
        summary="Change some of a task's fields",
    )
    def patch(self, request, task_id: str):
        return self._update(request, task_id, partial=True)

    def _update(self, request, task_id: str, *, partial: bool):
        pk = _task_id(task_id)
        data = TaskInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if partial:
            # With partial=True DRF still fills defaults; keep only what the client sent.
            values = {k: v for k, v in values.items() if k in request.data}
        task = task_update(user=request.user, task_id=pk, **values)
        return Response(TaskOutputSerializer(task).data)

    @extend_schema(
        operation_id="tasks_destroy",
        parameters=[TASK_ID_PARAMETER],
        responses={204: None, **error_responses(400, 404)},
        summary="Delete a task",
    )
    def delete(self, request, task_id: str):
        task_delete(user=request.user, task_id=_task_id(task_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskCompleteApi(APIView):
    @extend_schema(
        operation_id="tasks_complete",
        parameters=[TASK_ID_PARAMETER],
        request=None,
        responses={200: TaskOutputSerializer, **error_responses(400, 404)},
        summary="Mark a task done (idempotent)",
    )
    def post(self, request, task_id: str):
        task = task_complete(user=request.user, task_id=_task_id(task_id))
        return Response(TaskOutputSerializer(task).data)


class TaskUncompleteApi(APIView):
    @extend_schema(
        operation_id="tasks_uncomplete",
        parameters=[TASK_ID_PARAMETER],
        request=None,
        responses={200: TaskOutputSerializer, **error_responses(400, 404)},
        summary="Mark a task not done (idempotent)",
    )
    def post(self, request, task_id: str):
        task = task_uncomplete(user=request.user, task_id=_task_id(task_id))
        return Response(TaskOutputSerializer(task).data)

"""REST API for tasks: validate, call one service or selector, serialize."""

from __future__ import annotations

import re
from datetime import time

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import QueryIntegerField, StrictBooleanField, StrictCharField, StrictIntegerField
from apps.core.ids import MAX_ID, parse_object_id
from apps.core.pagination import PageParamsSerializer, paginate, validated_query
from apps.core.schema import error_responses, paginated
from apps.todos.models import (
    DESCRIPTION_MAX_LENGTH,
    LABEL_NAME_MAX_LENGTH,
    LIST_NAME_MAX_LENGTH,
    RECURRENCE_MAX_LENGTH,
    TIME_ZONE_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Label,
    Notification,
    Task,
    TaskCompletion,
    TaskList,
)
from apps.todos.selectors import (
    COMPLETED_DAYS_MAX,
    TASK_ORDERINGS,
    TASK_STATUSES,
    TASK_VIEWS,
    VIEW_OFFSET_MAX,
    VIEW_PAGE_MAX,
    VIEW_SORTS,
    completion_history,
    label_all,
    label_get,
    notification_list,
    notification_unread_count,
    task_get,
    task_list,
    task_list_all,
    task_list_get,
    task_page,
    task_view,
)
from apps.todos.services import (
    LABELS_PER_TASK_MAX,
    REMINDER_MINUTES_MAX,
    REMINDERS_PER_TASK_MAX,
    label_delete,
    label_rename,
    notifications_mark_read,
    task_complete,
    task_create,
    task_delete,
    task_list_create,
    task_list_delete,
    task_list_rename,
    task_uncomplete,
    task_update,
    todo_settings_get,
    todo_settings_update,
)

TASK_ID_PARAMETER = OpenApiParameter(
    "task_id",
    type={"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    location=OpenApiParameter.PATH,
    description="The task's id (a positive integer).",
)


def _id_parameter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        type={"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
        location=OpenApiParameter.PATH,
        description=f"The {what}'s id (a positive integer).",
    )


LIST_ID_PARAMETER = _id_parameter("list_id", "list")
LABEL_ID_PARAMETER = _id_parameter("label_id", "label")


WALL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


@extend_schema_field(
    {"type": "string", "pattern": WALL_TIME_PATTERN, "example": "09:30", "description": "Wall-clock time HH:MM in your time zone."}
)
class WallTimeField(serializers.Field):
    """A time of day without a zone ("09:30"): it is read in the user's own time zone."""

    default_error_messages = {"invalid": "Use HH:MM (24-hour), e.g. 09:30."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(WALL_TIME_PATTERN, data):
            self.fail("invalid")
        return time.fromisoformat(data)

    def to_representation(self, value):
        return value.strftime("%H:%M") if value else None


class UserWallClockDateTimeField(serializers.DateTimeField):
    """A date-time whose offset may be left out: the service then reads it in the user's time zone.

    DRF would make it aware in the server's zone first, so the same text meant another moment
    here than through the MCP tools (09:00 for a user in Tokyo was 09:00 UTC).
    """

    def enforce_timezone(self, value):
        return value


class ReminderSerializer(serializers.Serializer):
    minutes_before = StrictIntegerField(min_value=0, max_value=REMINDER_MINUTES_MAX, required=False, allow_null=True)
    remind_at = UserWallClockDateTimeField(
        required=False, allow_null=True, help_text="A moment; without an offset it is the user's time (todo settings)."
    )


class TaskOutputSerializer(serializers.ModelSerializer):
    due_time = WallTimeField(read_only=True, allow_null=True)
    list_id = serializers.IntegerField(source="task_list_id", read_only=True)
    labels = serializers.SerializerMethodField()

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
            "due_time",
            "recurrence",
            "list_id",
            "labels",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_labels(self, task: Task) -> list[str]:
        return sorted(label.name for label in task.labels.all())


class TaskInputSerializer(serializers.Serializer):
    title = StrictCharField(not_blank=True, min_length=1, max_length=TITLE_MAX_LENGTH)
    description = StrictCharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False, default=Task.Priority.NORMAL)
    due_date = serializers.DateField(required=False, allow_null=True, default=None)
    due_time = WallTimeField(required=False, allow_null=True, default=None)
    recurrence = StrictCharField(max_length=RECURRENCE_MAX_LENGTH, required=False, allow_blank=True, default="")
    list_id = StrictIntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None)
    labels = serializers.ListField(
        child=StrictCharField(not_blank=True, max_length=LABEL_NAME_MAX_LENGTH),
        max_length=LABELS_PER_TASK_MAX,
        required=False,
        default=list,
    )
    reminders = serializers.ListField(child=ReminderSerializer(), required=False, max_length=REMINDERS_PER_TASK_MAX)

    def validate(self, attrs):
        for reminder in attrs.get("reminders") or []:
            if (reminder.get("minutes_before") is None) == (reminder.get("remind_at") is None):
                raise serializers.ValidationError({"reminders": ["Each reminder needs minutes_before or remind_at."]})
        if attrs.get("due_time") is not None and attrs.get("due_date", True) is None:
            raise serializers.ValidationError({"due_time": ["A due time needs a due date."]})
        return attrs


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
        responses={201: TaskOutputSerializer, **error_responses(400, 404)},
        summary="Add a task",
    )
    def post(self, request):
        data = TaskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.get("list_id") is None:
            values.pop("list_id", None)
        task = task_create(user=request.user, **values)
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
        if "list_id" in values and values["list_id"] is None:
            values.pop("list_id")  # null means "leave it": a task always belongs to a list
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


# -- views -----------------------------------------------------------------------------------


class TaskViewQuerySerializer(serializers.Serializer):
    view = serializers.ChoiceField(choices=TASK_VIEWS, required=False, default="all")
    sort = serializers.ChoiceField(choices=VIEW_SORTS, required=False)
    list_id = QueryIntegerField(required=False, min_value=1, max_value=MAX_ID)
    label_id = QueryIntegerField(required=False, min_value=1, max_value=MAX_ID)
    search = StrictCharField(required=False, max_length=200, allow_blank=True)
    days = QueryIntegerField(required=False, min_value=1, max_value=COMPLETED_DAYS_MAX, default=7)
    limit = QueryIntegerField(required=False, min_value=1, max_value=VIEW_PAGE_MAX, default=20)
    offset = QueryIntegerField(required=False, min_value=0, max_value=VIEW_OFFSET_MAX, default=0)


class TaskPageSerializer(serializers.Serializer):
    results = TaskOutputSerializer(many=True)
    next_offset = serializers.IntegerField(allow_null=True)


class TaskViewApi(APIView):
    @extend_schema(
        operation_id="task_views_list",
        parameters=[TaskViewQuerySerializer],
        responses={200: TaskPageSerializer, **error_responses(400)},
        summary="Tasks in a view (today, overdue, upcoming, no_date, completed, all), one bounded page",
        description="No total count: `next_offset` is set when another page follows. A list or label "
        "that is not yours simply matches nothing.",
    )
    def get(self, request):
        params = TaskViewQuerySerializer(data=validated_query_all(request))
        params.is_valid(raise_exception=True)
        values = dict(params.validated_data)
        limit, offset = values.pop("limit"), values.pop("offset")
        rows, more = task_page(task_view(user=request.user, **values), limit=limit, offset=offset)
        return Response(
            {"results": TaskOutputSerializer(rows, many=True).data, "next_offset": offset + limit if more else None}
        )


def validated_query_all(request) -> dict:
    validated_query(PageParamsSerializer, request)  # refuses repeated parameters
    return request.query_params.dict()


class TaskCompletionSerializer(serializers.ModelSerializer):
    # The occurrence's wall-clock time as the task shows it ("09:30"); DRF's own TimeField says
    # "09:30:00" under format "time", which JSON Schema reads as RFC 3339 (with an offset).
    due_time = WallTimeField(read_only=True, allow_null=True)

    class Meta:
        model = TaskCompletion
        fields = ("id", "task_id", "completed_at", "due_date", "due_time")
        read_only_fields = fields


class TaskCompletionsApi(APIView):
    @extend_schema(
        operation_id="tasks_completions",
        parameters=[TASK_ID_PARAMETER, PageParamsSerializer],
        responses={200: paginated(TaskCompletionSerializer, "PaginatedTaskCompletionList"), **error_responses(400, 404)},
        summary="A task's completion history, newest first",
    )
    def get(self, request, task_id: str):
        task = task_get(user=request.user, task_id=_task_id(task_id))
        validated_query(PageParamsSerializer, request)
        return paginate(request, self, completion_history(user=request.user, task_id=task.pk), TaskCompletionSerializer)


# -- lists and labels ------------------------------------------------------------------------------


class TaskListOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskList
        fields = ("id", "name", "is_inbox", "created_at")
        read_only_fields = fields


class NameInputSerializer(serializers.Serializer):
    name = StrictCharField(not_blank=True, min_length=1, max_length=LIST_NAME_MAX_LENGTH)


class LabelNameInputSerializer(serializers.Serializer):
    name = StrictCharField(not_blank=True, min_length=1, max_length=LABEL_NAME_MAX_LENGTH)


class LabelOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ("id", "name", "created_at")
        read_only_fields = fields


class TaskListsApi(APIView):
    @extend_schema(
        operation_id="lists_list",
        parameters=[PageParamsSerializer],
        responses={200: paginated(TaskListOutputSerializer, "PaginatedTaskListList"), **error_responses(400)},
        summary="Your lists, Inbox first",
    )
    def get(self, request):
        validated_query(PageParamsSerializer, request)
        return paginate(request, self, task_list_all(user=request.user), TaskListOutputSerializer)

    @extend_schema(
        operation_id="lists_create",
        request=NameInputSerializer,
        responses={201: TaskListOutputSerializer, **error_responses(400, 409)},
        summary="Add a list",
    )
    def post(self, request):
        data = NameInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = task_list_create(user=request.user, name=data.validated_data["name"])
        return Response(TaskListOutputSerializer(created).data, status=status.HTTP_201_CREATED)


class TaskListDetailApi(APIView):
    @extend_schema(
        operation_id="lists_retrieve",
        parameters=[LIST_ID_PARAMETER],
        responses={200: TaskListOutputSerializer, **error_responses(400, 404)},
        summary="Get a list",
    )
    def get(self, request, list_id: str):
        found = task_list_get(user=request.user, list_id=parse_object_id(list_id, field="list_id"))
        return Response(TaskListOutputSerializer(found).data)

    @extend_schema(
        operation_id="lists_rename",
        parameters=[LIST_ID_PARAMETER],
        request=NameInputSerializer,
        responses={200: TaskListOutputSerializer, **error_responses(400, 404, 409)},
        summary="Rename a list (not the Inbox)",
    )
    def patch(self, request, list_id: str):
        pk = parse_object_id(list_id, field="list_id")
        data = NameInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "name" not in data.validated_data:  # nothing to change
            return Response(TaskListOutputSerializer(task_list_get(user=request.user, list_id=pk)).data)
        renamed = task_list_rename(user=request.user, list_id=pk, name=data.validated_data["name"])
        return Response(TaskListOutputSerializer(renamed).data)

    @extend_schema(
        operation_id="lists_destroy",
        parameters=[LIST_ID_PARAMETER],
        responses={204: None, **error_responses(400, 404)},
        summary="Delete a list; its tasks move to the Inbox (the Inbox cannot be deleted)",
    )
    def delete(self, request, list_id: str):
        task_list_delete(user=request.user, list_id=parse_object_id(list_id, field="list_id"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelsApi(APIView):
    @extend_schema(
        operation_id="labels_list",
        parameters=[PageParamsSerializer],
        responses={200: paginated(LabelOutputSerializer, "PaginatedLabelList"), **error_responses(400)},
        summary="Your labels (made by naming them on a task)",
    )
    def get(self, request):
        validated_query(PageParamsSerializer, request)
        return paginate(request, self, label_all(user=request.user), LabelOutputSerializer)


class LabelDetailApi(APIView):
    @extend_schema(
        operation_id="labels_rename",
        parameters=[LABEL_ID_PARAMETER],
        request=LabelNameInputSerializer,
        responses={200: LabelOutputSerializer, **error_responses(400, 404, 409)},
        summary="Rename a label",
    )
    def patch(self, request, label_id: str):
        pk = parse_object_id(label_id, field="label_id")
        data = LabelNameInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "name" not in data.validated_data:  # nothing to change
            return Response(LabelOutputSerializer(label_get(user=request.user, label_id=pk)).data)
        return Response(LabelOutputSerializer(label_rename(user=request.user, label_id=pk, name=data.validated_data["name"])).data)

    @extend_schema(
        operation_id="labels_destroy",
        parameters=[LABEL_ID_PARAMETER],
        responses={204: None, **error_responses(400, 404)},
        summary="Delete a label (its tasks stay)",
    )
    def delete(self, request, label_id: str):
        label_delete(user=request.user, label_id=parse_object_id(label_id, field="label_id"))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- settings and notifications ----------------------------------------------------------------------


class TodoSettingsSerializer(serializers.Serializer):
    time_zone = StrictCharField(max_length=TIME_ZONE_MAX_LENGTH, required=False, allow_blank=True)
    email_reminders = StrictBooleanField(required=False)


class TodoSettingsApi(APIView):
    @extend_schema(
        operation_id="todo_settings_retrieve",
        responses={200: TodoSettingsSerializer, **error_responses()},
        summary="Your time zone (empty = the server's) and reminder email opt-in",
    )
    def get(self, request):
        current = todo_settings_get(user=request.user)
        return Response({"time_zone": current.time_zone, "email_reminders": current.email_reminders})

    @extend_schema(
        operation_id="todo_settings_update",
        request=TodoSettingsSerializer,
        responses={200: TodoSettingsSerializer, **error_responses(400)},
        summary="Change your time zone or reminder email opt-in",
    )
    def patch(self, request):
        data = TodoSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        current = todo_settings_update(user=request.user, **data.validated_data)
        return Response({"time_zone": current.time_zone, "email_reminders": current.email_reminders})


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ("id", "task_id", "message", "created_at", "read_at")
        read_only_fields = fields


class NotificationsApi(APIView):
    @extend_schema(
        operation_id="notifications_list",
        parameters=[PageParamsSerializer],
        responses={200: paginated(NotificationSerializer, "PaginatedNotificationList"), **error_responses(400)},
        summary="Your in-app notifications (reminders), newest first",
    )
    def get(self, request):
        validated_query(PageParamsSerializer, request)
        return paginate(request, self, notification_list(user=request.user), NotificationSerializer)


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID), max_length=100, required=False, allow_null=True
    )


class NotificationsReadApi(APIView):
    @extend_schema(
        operation_id="notifications_mark_read",
        request=MarkReadSerializer,
        responses={
            200: inline_serializer("MarkedRead", {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()}),
            **error_responses(400),
        },
        summary="Mark notifications read (all of them when no ids are given)",
    )
    def post(self, request):
        data = MarkReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notifications_mark_read(user=request.user, notification_ids=data.validated_data.get("ids"))
        return Response({"marked": marked, "unread": notification_unread_count(user=request.user)})

from django.urls import path

from apps.todos import apis

# task_id is matched as any segment so that a non-numeric id gets a 400 naming the field, not a bare 404.
urlpatterns = [
    path("tasks/", apis.TaskListApi.as_view(), name="task-list"),
    path("task-views/", apis.TaskViewApi.as_view(), name="task-views"),
    path("lists/", apis.TaskListsApi.as_view(), name="list-list"),
    path("lists/<str:list_id>/", apis.TaskListDetailApi.as_view(), name="list-detail"),
    path("labels/", apis.LabelsApi.as_view(), name="label-list"),
    path("labels/<str:label_id>/", apis.LabelDetailApi.as_view(), name="label-detail"),
    path("todo-settings/", apis.TodoSettingsApi.as_view(), name="todo-settings"),
    path("notifications/", apis.NotificationsApi.as_view(), name="notification-list"),
    path("notifications/read/", apis.NotificationsReadApi.as_view(), name="notifications-read"),
    path("tasks/<str:task_id>/completions/", apis.TaskCompletionsApi.as_view(), name="task-completions"),
    path("tasks/<str:task_id>/", apis.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<str:task_id>/complete/", apis.TaskCompleteApi.as_view(), name="task-complete"),
    path("tasks/<str:task_id>/uncomplete/", apis.TaskUncompleteApi.as_view(), name="task-uncomplete"),
]

from django.urls import path

from apps.todos import apis

# task_id is matched as any segment so that a non-numeric id gets a 400 naming the field, not a bare 404.
urlpatterns = [
    path("tasks/", apis.TaskListApi.as_view(), name="task-list"),
    path("tasks/<str:task_id>/", apis.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<str:task_id>/complete/", apis.TaskCompleteApi.as_view(), name="task-complete"),
    path("tasks/<str:task_id>/uncomplete/", apis.TaskUncompleteApi.as_view(), name="task-uncomplete"),
]

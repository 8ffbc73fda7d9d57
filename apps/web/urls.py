from django.contrib.auth import views as auth_views
from django.urls import path

from apps.limits.attempts import limit_posts
from apps.todos import views as todo_views
from apps.web import views

app_name = "web"

urlpatterns = [
    path(
        "accounts/login/",
        limit_posts("login", "LOGIN_RATE_LIMIT")(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("chat/", views.chat, name="chat"),
    path("chat/send/", views.chat_send, name="chat-send"),
    path("chat/provider/", views.chat_provider, name="chat-provider"),
    path("chat/<str:conversation_id>/", views.chat, name="chat-detail"),
    path("chat/<str:conversation_id>/delete/", views.chat_delete, name="chat-delete"),
    path("usage/", views.usage, name="usage"),
    path("tasks/", todo_views.tasks_page, name="tasks"),
    path("tasks/lists/add/", todo_views.list_add, name="list-add"),
    path("tasks/settings/", todo_views.todo_settings_save, name="todo-settings"),
    path("tasks/<str:task_id>/toggle/", todo_views.task_toggle, name="task-toggle"),
    path("tasks/<str:task_id>/edit/", todo_views.task_edit, name="task-edit"),
    path("tasks/<str:task_id>/delete/", todo_views.task_delete_page, name="task-delete"),
    path("notifications/", todo_views.notifications_page, name="notifications"),
    path("settings/keys/", limit_posts("key-create", "KEY_CREATE_RATE_LIMIT", "user_or_ip")(views.key_list), name="key-list"),
    path("settings/keys/<str:key_id>/validate/", views.key_validate, name="key-validate"),
    path("settings/keys/<str:key_id>/row/", views.key_row, name="key-row"),
    path("settings/keys/<str:key_id>/delete/", views.key_delete, name="key-delete"),
    path("settings/connections/", views.connections, name="connections"),
    path("settings/connections/<str:connection_id>/revoke/", views.connection_revoke, name="connection-revoke"),
]

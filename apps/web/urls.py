from django.contrib.auth import views as auth_views
from django.urls import path

from apps.web import views

app_name = "web"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("chat/", views.chat, name="chat"),
    path("chat/send/", views.chat_send, name="chat-send"),
    path("chat/provider/", views.chat_provider, name="chat-provider"),
    path("chat/<str:conversation_id>/", views.chat, name="chat-detail"),
    path("chat/<str:conversation_id>/delete/", views.chat_delete, name="chat-delete"),
    path("usage/", views.usage, name="usage"),
    path("settings/keys/", views.key_list, name="key-list"),
    path("settings/keys/<str:key_id>/validate/", views.key_validate, name="key-validate"),
    path("settings/keys/<str:key_id>/row/", views.key_row, name="key-row"),
    path("settings/keys/<str:key_id>/delete/", views.key_delete, name="key-delete"),
    path("settings/connections/", views.connections, name="connections"),
    path("settings/connections/<str:connection_id>/revoke/", views.connection_revoke, name="connection-revoke"),
]

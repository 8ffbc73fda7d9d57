from django.urls import path

from apps.chat import apis

urlpatterns = [
    path("chat/", apis.ChatApi.as_view(), name="chat"),
    path("conversations/", apis.ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<str:conversation_id>/", apis.ConversationDetailApi.as_view(), name="conversation-detail"),
]

from django.urls import path

from apps.mcp_tools import apis

urlpatterns = [
    path("tools/", apis.ToolListApi.as_view(), name="tool-list"),
]

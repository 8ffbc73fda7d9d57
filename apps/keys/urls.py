from django.urls import path

from apps.keys import apis

urlpatterns = [
    path("keys/", apis.ProviderKeyListApi.as_view(), name="key-list"),
    path("keys/<str:key_id>/", apis.ProviderKeyDetailApi.as_view(), name="key-detail"),
]

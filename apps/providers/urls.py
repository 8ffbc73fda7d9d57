from django.urls import path

from apps.providers import apis

urlpatterns = [
    path("providers/", apis.ProviderListApi.as_view(), name="provider-list"),
    path("preferences/", apis.PreferenceApi.as_view(), name="preferences"),
]

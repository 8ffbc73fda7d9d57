from django.urls import path

from apps.providers import apis

urlpatterns = [
    path("providers/", apis.ProviderListApi.as_view(), name="provider-list"),
    path("preferences/", apis.PreferenceApi.as_view(), name="preferences"),
    # Under /keys/ for clients, but served here: checking a key is a provider call, and `keys` sits below `providers`.
    path("keys/<str:key_id>/validate/", apis.ProviderKeyValidateApi.as_view(), name="key-validate"),
]

from django.urls import path
from oauth2_provider import views as dot_views

from apps.oauth import views

# The toolkit reverses its own names ("oauth2_provider:token", ...) for the metadata document.
app_name = "oauth2_provider"

urlpatterns = [
    path(".well-known/oauth-authorization-server", dot_views.OAuthServerMetadataView.as_view(), name="oauth-server-metadata"),
    path("oauth/authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("oauth/token/", views.TokenView.as_view(), name="token"),
    path("oauth/revoke/", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/register/", views.RegistrationView.as_view(), name="dcr-register"),
    path("oauth/register/<str:client_id>/", views.RegistrationManagementView.as_view(), name="dcr-register-management"),
]

from django.contrib import admin
from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from apps.core import views as core_views

# Swagger UI and ReDoc set inline styles as they render: only these two pages allow them (scripts stay 'self').
DOCS_STYLES = csp_update({"style-src": [UNSAFE_INLINE]})

api_v1 = [
    path("", include("apps.todos.urls")),
    path("", include("apps.keys.urls")),
    path("", include("apps.providers.urls")),
    path("", include("apps.chat.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.mcp_tools.urls")),
]

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("apps.web.urls")),
    path("", include("apps.oauth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both docs pages load only our own static files (drf-spectacular-sidecar) and no inline script.
    path(
        "api/docs/",
        DOCS_STYLES(SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html")),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        DOCS_STYLES(SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")),
        name="api-redoc",
    ),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"

"""OAuth endpoints: the toolkit's views with the project's pages and rules (public clients, /mcp audience)."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views
from oauth2_provider.models import get_refresh_token_model

from apps.core.fields import unstorable_text
from apps.limits.attempts import attempts_limited
from apps.oauth.redirects import redirect_uri_problem
from apps.oauth.selectors import mcp_resource, resource_allowed
from apps.oauth.tokens import token_checksum

REGISTRATION_MAX_BYTES = 16 * 1024


def _oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


class AuthorizeView(dot_views.AuthorizationView):
    """Sign-in (the site's login page) and consent: which client, which scopes, for /mcp."""

    template_name = "oauth/authorize.html"

    def get(self, request, *args, **kwargs):
        for resource in request.GET.getlist("resource"):
            if not resource_allowed(resource):
                return self.render_to_response(
                    {
                        "error": {
                            "error": "invalid_target",
                            "description": f"This server issues tokens only for {mcp_resource()}.",
                        }
                    },
                    status=400,
                )
        if request.GET.get("code_challenge_method", "S256") != "S256" or not request.GET.get("code_challenge"):
            return self.render_to_response(
                {"error": {"error": "invalid_request", "description": "PKCE with S256 is required."}}, status=400
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["resource"] = mcp_resource()
        return context


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(dot_views.TokenView):
    """The token endpoint; uses of one refresh token run one after another.

    The toolkit checks a refresh token before it locks it, so concurrent uses of one token all
    passed the check: two live pairs came out of it, or a 500 (its "same pair again" answer has
    no plaintext under hashed storage), or a loser's reuse check revoked the pair the winner had
    just been given. Locked first, each later use sees a used token: a replay, refused, and the
    family revoked, as a replay a second later is.
    """

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        refresh_token = request.POST.get("refresh_token")
        if request.POST.get("grant_type") != "refresh_token" or not refresh_token:
            return super().post(request, *args, **kwargs)
        with transaction.atomic():
            list(get_refresh_token_model().objects.select_for_update().filter(token_checksum=token_checksum(refresh_token)))
            return super().post(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(dot_views.DynamicClientRegistrationView):
    """RFC 7591 registration, for public clients only (PKCE, no secret) with checked redirect URIs."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Registration is open to anyone: a client's address may register OAUTH_REGISTER_RATE_LIMIT
        # clients, so a script cannot fill the client table (and the consent pages) with them.
        if attempts_limited(request, group="oauth-register", rate=settings.OAUTH_REGISTER_RATE_LIMIT, key="ip"):
            from apps.audit.services import audit_record

            audit_record(actor=None, action="limit.exceeded", outcome="denied",
                         metadata={"policy": "oauth_register", "rate": settings.OAUTH_REGISTER_RATE_LIMIT})
            response = _oauth_error("rate_limited", "Too many client registrations from this address; try again later.", 429)
            response["Retry-After"] = "60"
            return response
        if len(request.body) > REGISTRATION_MAX_BYTES:
            return _oauth_error("invalid_client_metadata", "The registration request is too large.", 413)
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            return _oauth_error("invalid_client_metadata", "The body must be a JSON object.")
        if not isinstance(data, dict):
            return _oauth_error("invalid_client_metadata", "The body must be a JSON object.")
        if data.get("token_endpoint_auth_method", "none") != "none":
            return _oauth_error(
                "invalid_client_metadata", "Only public clients register here: token_endpoint_auth_method must be none."
            )
        grant_types = data.get("grant_types", ["authorization_code", "refresh_token"])
        if not isinstance(grant_types, list) or set(grant_types) - {"authorization_code", "refresh_token"}:
            return _oauth_error("invalid_client_metadata", "grant_types may be authorization_code and refresh_token only.")
        if data.get("response_types", ["code"]) != ["code"]:
            return _oauth_error("invalid_client_metadata", "response_types must be [\"code\"].")
        uris = data.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > 10:
            return _oauth_error("invalid_redirect_uri", "redirect_uris must be a list of 1 to 10 URLs.")
        for uri in uris:
            if (problem := redirect_uri_problem(uri)) is not None:
                return _oauth_error("invalid_redirect_uri", f"The redirect URI {str(uri)[:200]!r} {problem}.")
        name = data.get("client_name", "")
        if not isinstance(name, str) or len(name) > 100 or unstorable_text(name):
            return _oauth_error(
                "invalid_client_metadata", "client_name must be a string of at most 100 characters, without NUL."
            )
        clean = {
            "client_name": name,
            "redirect_uris": uris,
            "grant_types": ["authorization_code"],  # refresh tokens come with it
            "token_endpoint_auth_method": "none",
        }
        request._body = json.dumps(clean).encode()
        response = super().post(request, *args, **kwargs)
        if response.status_code == 201:
            # The client's metadata as registered, with the grant types it may use.
            body = json.loads(response.content)
            body["grant_types"] = ["authorization_code", "refresh_token"]
            body["response_types"] = ["code"]
            if data.get("scope") and isinstance(data["scope"], str):
                body["scope"] = data["scope"][:200]
            response = JsonResponse(body, status=201)
        return response


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationManagementView(dot_views.DynamicClientRegistrationManagementView):
    """RFC 7592 read and delete; an update would skip the redirect URI rules above, so it is refused."""

    def put(self, request, *args, **kwargs):
        return _oauth_error("invalid_request", "Registered clients cannot be changed; register a new one.", 405)

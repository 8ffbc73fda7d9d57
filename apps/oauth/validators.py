"""The toolkit's request validator with this project's rules: blocked clients, redirect URIs, /mcp audience, audit."""

from __future__ import annotations

import contextlib
import logging

from django.db import transaction
from oauth2_provider.models import Grant, get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from apps.oauth.redirects import redirect_uri_problem
from apps.oauth.selectors import client_blocked, mcp_resource, resource_allowed
from apps.oauth.services import (
    connection_grant_recorded,
    connection_record_grant,
    oauth_event_record,
    spent_code_record,
    spent_code_reused,
)
from apps.oauth.tokens import token_checksum, token_prefix

logger = logging.getLogger(__name__)


def invalid_target(resource: str, request) -> errors.CustomOAuth2Error:
    return errors.CustomOAuth2Error(
        error="invalid_target",
        description=f"This server issues tokens only for {mcp_resource()}, not {str(resource)[:200]!r}.",
        request=request,
    )


@contextlib.contextmanager
def _spent_meanwhile(code, client, request):
    try:
        yield
    except Grant.DoesNotExist:
        spent_code_reused(code=code, application=client)
        raise errors.InvalidGrantError(request=request) from None


class TodoOAuth2Validator(OAuth2Validator):
    def validate_client_id(self, client_id, request, *args, **kwargs):
        if not super().validate_client_id(client_id, request, *args, **kwargs):
            return False
        if client_blocked(request.client):
            logger.info("refused a blocked OAuth client (application %s)", request.client.pk)
            return False
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        if not super().authenticate_client_id(client_id, request, *args, **kwargs):
            return False
        return not client_blocked(request.client)

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        if redirect_uri_problem(redirect_uri) is not None:
            return False
        return super().validate_redirect_uri(client_id, redirect_uri, request, *args, **kwargs)

    def _check_and_set_request_resource(self, request):
        super()._check_and_set_request_resource(request)
        for resource in request.resource:
            if not resource_allowed(resource):
                raise invalid_target(resource, request)
        if not request.resource:
            request.resource = [mcp_resource()]  # every token is bound to /mcp, asked for or not

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        for resource in getattr(request, "resource", None) or []:
            if not resource_allowed(resource):
                raise invalid_target(resource, request)
        with transaction.atomic():
            super().save_authorization_code(client_id, code, request, *args, **kwargs)
            scope = " ".join(request.scopes or [])
            connection_grant_recorded(user=request.user, application=request.client, scope=scope)
            oauth_event_record(
                user=request.user, application=request.client, action="oauth.grant", metadata={"scope": scope}
            )

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            return True
        spent_code_reused(code=code, application=client)  # a spent code again: its tokens go
        return False

    # Each reads the code's grant again after validate_code: a racing exchange of the same code
    # may have spent it in between (the toolkit's .get() would be a 500). That is a reuse too.
    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, *args, **kwargs):
        with _spent_meanwhile(code, client, kwargs.get("request") or (args[0] if args else None)):
            return super().confirm_redirect_uri(client_id, code, redirect_uri, client, *args, **kwargs)

    def get_code_challenge(self, code, request):
        with _spent_meanwhile(code, request.client, request):
            return super().get_code_challenge(code, request)

    def get_code_challenge_method(self, code, request):
        with _spent_meanwhile(code, request.client, request):
            return super().get_code_challenge_method(code, request)

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        try:
            super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        except errors.InvalidGrantError:
            # Another exchange of this code won the race after both were validated: both got
            # tokens, so the code was used twice. The winner's record makes this a reuse.
            spent_code_reused(code=code, application=request.client)
            raise

    def save_bearer_token(self, token, request, *args, **kwargs):
        with transaction.atomic():
            result = super().save_bearer_token(token, request, *args, **kwargs)
            refreshed = request.grant_type == "refresh_token"
            if request.grant_type == "authorization_code":
                spent_code_record(code=request.code, application=request.client, user=request.user)
            connection_record_grant(user=request.user, application=request.client, scope=token.get("scope", ""))
            oauth_event_record(
                user=request.user,
                application=request.client,
                action="oauth.token_refreshed" if refreshed else "oauth.token_issued",
                metadata={
                    "grant_type": request.grant_type,
                    "scope": token.get("scope", ""),
                    "access_token_prefix": token_prefix(token.get("access_token", "")),
                    "expires_in": token.get("expires_in"),
                },
            )
        return result

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        application = request.client
        owner = None
        if application is not None and getattr(application, "pk", None) is not None:
            checksum = token_checksum(token or "")
            for model in (get_access_token_model(), get_refresh_token_model()):
                row = model.objects.filter(token_checksum=checksum, application=application).select_related("user").first()
                if row is not None:
                    owner = row.user
                    break
        with transaction.atomic():
            super().revoke_token(token, token_type_hint, request, *args, **kwargs)
            if owner is not None:
                oauth_event_record(
                    user=owner,
                    application=application,
                    action="oauth.token_revoked",
                    metadata={"token_prefix": token_prefix(token), "token_type_hint": token_type_hint or ""},
                )

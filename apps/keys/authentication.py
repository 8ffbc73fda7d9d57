"""DRF authentication by `Authorization: Bearer <access token>`."""

from __future__ import annotations

import copy

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.keys.selectors import access_token_authenticate_cached
from apps.keys.services import access_token_touch


class AccessTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid access token.") from None
        # This process's copy while no token or user changed (apps.keys.signals bumps it in every
        # process): a revoked token is refused on its very next request.
        token = access_token_authenticate_cached(plaintext=plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked access token.")
        access_token_touch(token=token)
        # The copy is shared between requests: each gets its own user object to hang state on.
        return copy.copy(token.user), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class AccessTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = AccessTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}

"""Content negotiation that disregards an Accept header naming nothing the view can render."""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class DisregardUnmatchedAccept(DefaultContentNegotiation):
    """RFC 9110 §12.5.1 lets a server disregard an Accept header it cannot satisfy. Then the view's
    first renderer answers (JSON), not a 406 that no operation documents. A schemathesis run found
    the 406 with an unparseable header. An explicit ``?format=`` the view lacks is still refused."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
                raise
            return renderers[0], renderers[0].media_type

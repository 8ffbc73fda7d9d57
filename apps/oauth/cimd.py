"""Fetching Client ID Metadata Documents: the toolkit's SSRF-hardened fetch, plus a development switch.

The toolkit's fetcher connects only to public addresses over https with verified certificates,
with a size cap and one deadline for the whole fetch, and no redirects. Development and tests
serve documents from 127.0.0.1, so ``OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES`` lets loopback and
private addresses through and ``OAUTH_CIMD_CA_FILE`` names a CA to trust; both are off by default.
"""

from __future__ import annotations

import socket
import ssl
import time

import urllib3
from django.conf import settings
from oauth2_provider import cimd as dot_cimd
from oauth2_provider.settings import oauth2_settings


def _addresses(hostname: str, port: int) -> list[str]:
    if not settings.OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES:
        return dot_cimd._resolve_and_validate(hostname, port)  # public addresses only, or CIMDError
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise dot_cimd.CIMDError(f"could not resolve client_id host: {exc}") from exc
    return [info[4][0] for info in infos] or []


class MetadataFetcher(dot_cimd.SafeMetadataFetcher):
    def fetch(self, client_id):
        parsed = dot_cimd._validate_client_id_url(client_id)  # https, a host and a path, no dot segments
        port = parsed.port or 443
        ips = _addresses(parsed.hostname, port)
        if not ips:
            raise dot_cimd.CIMDError("client_id host did not resolve to any address")
        ssl_context = ssl.create_default_context(cafile=settings.OAUTH_CIMD_CA_FILE or None)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        headers = {"Host": parsed.netloc, "Accept": "application/json, application/*+json"}
        deadline = time.monotonic() + oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        last_exc = None
        for ip in ips:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Connect to the checked address while SNI, the certificate and Host use the name (no DNS rebinding).
            pool = urllib3.HTTPSConnectionPool(
                host=ip,
                port=port,
                timeout=urllib3.Timeout(connect=remaining, read=remaining, total=remaining),
                retries=False,
                maxsize=1,
                ssl_context=ssl_context,
                server_hostname=parsed.hostname,
                assert_hostname=parsed.hostname,
            )
            try:
                response = pool.urlopen("GET", path, headers=headers, redirect=False, preload_content=False)
                try:
                    return self._read_document(response)  # JSON object, size-capped
                finally:
                    response.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                last_exc = exc
            finally:
                pool.close()
        raise dot_cimd.CIMDError(f"could not fetch client_id document: {type(last_exc).__name__}")

    def _read_document(self, response):
        data, max_age = super()._read_document(response)
        from apps.oauth.redirects import redirect_uri_problem

        for uri in data.get("redirect_uris") or []:
            if (problem := redirect_uri_problem(uri)) is not None:
                raise dot_cimd.CIMDError(f"a redirect URI {problem}")
        return data, max_age

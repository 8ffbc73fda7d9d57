"""The adapter contract and the vendor-neutral pieces of error classification."""

from __future__ import annotations

import email.utils
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any, ClassVar

import httpx2
import pydantic

from apps.providers.errors import ProviderError
from apps.providers.types import CompletionReply, CompletionRequest, StreamEvent

# The gateway owns retries (one retry layer per call path), so SDK clients never retry.
SDK_MAX_RETRIES = 0

_CONTEXT_TOO_LONG = re.compile(
    r"context[ _-]?length|maximum context|context window|prompt is too long|too many tokens|"
    r"reduce the length|input is too long|exceeds? the model",
    re.IGNORECASE,
)
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class ProviderAdapter(ABC):
    """One vendor wire format. Stateless: a key and base URL are passed per call.

    ``base_url`` blank means the SDK default (which honours OPENAI_BASE_URL /
    ANTHROPIC_BASE_URL). ``timeout`` is seconds for the whole call.
    """

    kind: ClassVar[str]
    requires_api_key: ClassVar[bool] = True
    requires_base_url: ClassVar[bool] = False

    @abstractmethod
    def complete(
        self, request: CompletionRequest, *, api_key: str, base_url: str = "", timeout: float = 60.0
    ) -> CompletionReply:
        """Run one completion; raise ProviderError on any failure."""

    @abstractmethod
    def stream(
        self, request: CompletionRequest, *, api_key: str, base_url: str = "", timeout: float = 60.0
    ) -> Iterator[StreamEvent]:
        """Yield TextDelta events, then exactly one StreamDone; raise ProviderError on failure."""

    def validate_key(self, *, api_key: str, base_url: str = "", timeout: float = 10.0) -> None:
        """Cheaply check that the key works (raise ProviderError if not). Default: nothing to check."""


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait, from `retry-after-ms` / `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_object(body: Any) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return inner
        return body
    return {}


def _safe_token(value: Any) -> str | None:
    if isinstance(value, str) and _SAFE_TOKEN.match(value):
        return value
    return None


def error_from_status(
    *,
    provider: str,
    status: int | None,
    headers: Mapping[str, str] | None,
    body: Any,
) -> ProviderError:
    """Classify an HTTP error answer. Upstream text is read, never copied into the error."""
    err = _error_object(body)
    error_type = _safe_token(err.get("type")) or _safe_token(err.get("code"))
    upstream_text = " ".join(
        str(part) for part in (err.get("message"), err.get("code"), err.get("type")) if part
    )
    common = {"provider": provider, "provider_status": status, "provider_error_type": error_type}

    # Streamed error events arrive inside a 200 answer: classify by type.
    if status is None or status < 400:
        status = {
            "rate_limit_error": 429,
            "overloaded_error": 529,
            "api_error": 500,
            "authentication_error": 401,
            "permission_error": 403,
            "invalid_request_error": 400,
            "request_too_large": 413,
            "timeout_error": 504,
        }.get(error_type or "", 500)

    if status in (401, 403):
        return ProviderError("auth", **common)
    if status == 429:
        return ProviderError("rate_limited", retry_after=parse_retry_after(headers), **common)
    if status in (408, 504):
        return ProviderError("timeout", retry_after=parse_retry_after(headers), **common)
    if status == 409 or status >= 500:
        return ProviderError("unavailable", retry_after=parse_retry_after(headers), **common)
    if status == 413 or (
        status in (400, 422) and (err.get("code") == "context_length_exceeded" or _CONTEXT_TOO_LONG.search(upstream_text))
    ):
        return ProviderError("context_too_long", **common)
    return ProviderError("bad_request", **common)


def bad_response(provider: str, detail: str, *, provider_status: int | None = None) -> ProviderError:
    return ProviderError("bad_response", provider=provider, detail=detail, provider_status=provider_status)


def http_headers(response: Any) -> Mapping[str, str] | None:
    headers = getattr(response, "headers", None)
    return headers if headers is not None else None


def map_sdk_exception(
    exc: BaseException, sdk: ModuleType, *, base_error: type[Exception], provider: str, mid_stream: bool = False
) -> ProviderError:
    """Map an exception from a Stainless-generated SDK (``openai``, ``anthropic``: same hierarchy).

    The SDK module is passed in so that only each adapter imports its own SDK. Upstream error
    text is never copied (it can echo the key); only status and a short error type are kept.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, (sdk.APITimeoutError, httpx2.TimeoutException)):
        return ProviderError("timeout", provider=provider)
    if isinstance(exc, (sdk.APIConnectionError, httpx2.TransportError)):
        if mid_stream:
            return bad_response(provider, "the reply stream was cut off")
        return ProviderError("unavailable", provider=provider, detail="could not connect")
    if isinstance(exc, sdk.APIResponseValidationError):
        return bad_response(provider, "unexpected reply shape", provider_status=exc.status_code)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code if exc.status_code >= 400 else None  # in-stream error events come in a 200
        return error_from_status(provider=provider, status=status, headers=http_headers(exc.response), body=exc.body)
    if isinstance(exc, sdk.APIError):
        # An error event inside a 200 stream, without a status of its own.
        return error_from_status(provider=provider, status=None, headers=None, body={"error": exc.body})
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, pydantic.ValidationError)):
        return bad_response(provider, "malformed reply")
    if isinstance(exc, base_error):
        return ProviderError("bad_request", provider=provider)
    raise exc

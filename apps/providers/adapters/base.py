"""The adapter contract and the vendor-neutral pieces of error classification."""

from __future__ import annotations

import dataclasses
import email.utils
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Mapping
from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar

import httpx2
import pydantic

from apps.providers.adapters.http import CallDeadline, deadline_http_client
from apps.providers.errors import ProviderError
from apps.providers.types import CompletionReply, CompletionRequest, StreamDone, StreamEvent, TextDelta

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
    """Seconds to wait, from `retry-after-ms` / `retry-after` (seconds or an HTTP date); never NaN or infinite."""
    value = _parse_retry_after(headers)
    if value is None or not math.isfinite(value):
        return None
    return value


def _parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
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


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# (remaining header, reset header): OpenAI sends durations ("6m0s"), Anthropic RFC 3339 times.
_RATE_LIMIT_HEADERS = (
    ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
    ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
    ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
)
_MAX_COOLDOWN_SECONDS = 3600.0


def _reset_seconds(value: str) -> float | None:
    value = value.strip()
    try:
        number = float(value)
        return max(number, 0.0) if math.isfinite(number) else None
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _DURATION_SECONDS[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def rate_limit_wait(headers: Mapping[str, str] | None) -> float | None:
    """Seconds until the provider takes requests again, when its rate-limit headers say none are left."""
    if not headers:
        return None
    waits: list[float] = []
    for remaining_name, reset_name in _RATE_LIMIT_HEADERS:
        remaining = headers.get(remaining_name)
        if remaining is None or remaining.strip() != "0":
            continue
        reset = _reset_seconds(headers.get(reset_name) or "")
        waits.append(reset if reset is not None else 1.0)
    return min(max(waits), _MAX_COOLDOWN_SECONDS) if waits else None


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
        error = ProviderError("rate_limited", retry_after=parse_retry_after(headers), **common)
        wait = error.retry_after if error.retry_after is not None else rate_limit_wait(headers)
        error.cooldown_seconds = min(wait, _MAX_COOLDOWN_SECONDS) if wait is not None else None
        return error
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


class SdkAdapter(ProviderAdapter):
    """What the OpenAI and Anthropic adapters share: client set-up, call wrapping, key check.

    Subclasses name their SDK and build requests and replies; this class makes the client (no
    SDK retries, a total time limit per call), maps every SDK failure to a ProviderError
    (``from None``: SDK errors hold key-bearing request headers and upstream text), and reads
    the rate-limit headers of successful answers.
    """

    sdk: ClassVar[ModuleType]
    provider_label: ClassVar[str]
    request_id_header: ClassVar[str] = "x-request-id"

    # -- vendor parts ---------------------------------------------------------
    @abstractmethod
    def _sdk_client(self, *, api_key: str, base_url: str, http_client: httpx2.Client) -> Any:
        """The vendor SDK client (``max_retries=SDK_MAX_RETRIES``, this ``http_client``)."""

    @abstractmethod
    def _request_kwargs(self, request: CompletionRequest) -> dict[str, Any]: ...

    @abstractmethod
    def _create(self, client: Any, kwargs: dict[str, Any], *, stream: bool) -> Any:
        """Send the request: a raw response (``with_raw_response``) or an SDK stream."""

    @abstractmethod
    def _reply(self, parsed: Any, request: CompletionRequest, request_id: str | None) -> CompletionReply: ...

    @abstractmethod
    def _stream_events(self, sdk_stream: Any, request: CompletionRequest, request_id: str | None) -> Generator[TextDelta, None, CompletionReply]:
        """Yield text deltas from the SDK stream; return the finished reply."""

    # -- shared ---------------------------------------------------------------
    def _base_error(self) -> type[Exception]:
        return self.sdk.OpenAIError if hasattr(self.sdk, "OpenAIError") else self.sdk.AnthropicError

    def _map_exception(self, exc: BaseException, *, mid_stream: bool = False) -> ProviderError:
        return map_sdk_exception(
            exc, self.sdk, base_error=self._base_error(), provider=self.provider_label, mid_stream=mid_stream
        )

    def _client(self, *, api_key: str, base_url: str, timeout: float) -> Any:
        return self._sdk_client(
            api_key=api_key, base_url=base_url, http_client=deadline_http_client(CallDeadline(timeout))
        )

    def complete(
        self, request: CompletionRequest, *, api_key: str, base_url: str = "", timeout: float = 60.0
    ) -> CompletionReply:
        try:
            with self._client(api_key=api_key, base_url=base_url, timeout=timeout) as client:
                raw = self._create(client, self._request_kwargs(request), stream=False)
                reply = self._reply(raw.parse(), request, raw.headers.get(self.request_id_header))
                return dataclasses.replace(reply, rate_limit_wait=rate_limit_wait(raw.headers))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a ProviderError
            raise self._map_exception(exc) from None

    def stream(
        self, request: CompletionRequest, *, api_key: str, base_url: str = "", timeout: float = 60.0
    ) -> Iterator[StreamEvent]:
        client = self._client(api_key=api_key, base_url=base_url, timeout=timeout)
        try:
            try:
                sdk_stream = self._create(client, self._request_kwargs(request), stream=True)
            except Exception as exc:  # noqa: BLE001
                raise self._map_exception(exc) from None
            headers = sdk_stream.response.headers
            try:
                reply = yield from self._stream_events(sdk_stream, request, headers.get(self.request_id_header))
            except Exception as exc:  # noqa: BLE001
                raise self._map_exception(exc, mid_stream=True) from None
            finally:
                sdk_stream.close()
            yield StreamDone(dataclasses.replace(reply, rate_limit_wait=rate_limit_wait(headers)))
        finally:
            client.close()

    def validate_key(self, *, api_key: str, base_url: str = "", timeout: float = 10.0) -> None:
        try:
            with self._client(api_key=api_key, base_url=base_url, timeout=timeout) as client:
                client.models.list()
        except Exception as exc:  # noqa: BLE001
            raise self._map_exception(exc) from None

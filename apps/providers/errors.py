"""ProviderError: every failure talking to an AI provider, classified for the gateway."""

from __future__ import annotations

from typing import Any, Literal

from apps.core.errors import ApplicationError

ProviderErrorKind = Literal[
    "auth",
    "rate_limited",
    "unavailable",
    "timeout",
    "bad_response",
    "context_too_long",
    "bad_request",
]

# kind -> (code, retryable by default, message shown to the user).
# Messages are fixed text on purpose: upstream error text can echo parts of the
# API key (OpenAI's 401 does), so it never reaches `message` or `extra`.
_KINDS: dict[str, tuple[str, bool, str]] = {
    "auth": (
        "provider_auth_failed",
        False,
        "The AI provider rejected the API key. Check the key in your provider settings.",
    ),
    "rate_limited": (
        "provider_rate_limited",
        True,
        "The AI provider is rate limiting requests. Try again shortly.",
    ),
    "unavailable": (
        "provider_unavailable",
        True,
        "The AI provider is unavailable right now. Try again shortly.",
    ),
    "timeout": (
        "provider_timeout",
        True,
        "The AI provider did not answer in time.",
    ),
    "bad_response": (
        "provider_bad_response",
        False,
        "The AI provider sent a reply that could not be understood.",
    ),
    "context_too_long": (
        "provider_context_too_long",
        False,
        "The conversation is too long for this model. Start a new conversation.",
    ),
    "bad_request": (
        "provider_bad_request",
        False,
        "The AI provider refused the request.",
    ),
}

PROVIDER_ERROR_KINDS: frozenset[str] = frozenset(_KINDS)


class ProviderError(ApplicationError):
    """A provider call failed; ``kind`` and ``retryable`` tell the gateway what to do.

    ``detail`` is an optional, already-safe short addition to the message
    (our own words, never upstream text).
    """

    status_code = 502
    default_code = "provider_error"
    default_message = "The AI provider failed."

    def __init__(
        self,
        kind: ProviderErrorKind,
        *,
        provider: str | None = None,
        detail: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        provider_status: int | None = None,
        provider_error_type: str | None = None,
    ) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown provider error kind {kind!r}")
        code, default_retryable, base_message = _KINDS[kind]
        self.kind = kind
        self.provider = provider
        self.retryable = default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.provider_status = provider_status
        # Set by adapters when the provider's own headers say when it will take requests again.
        self.cooldown_seconds: float | None = None
        message = f"{base_message} ({detail})" if detail else base_message
        extra: dict[str, Any] = {
            "kind": kind,
            "retryable": self.retryable,
            "retry_after": retry_after,
            "provider_status": provider_status,
        }
        if provider:
            extra["provider"] = provider
        if provider_error_type:
            extra["provider_error_type"] = provider_error_type
        super().__init__(message, code=code, extra=extra)

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind!r}, provider={self.provider!r}, "
            f"retryable={self.retryable!r}, retry_after={self.retry_after!r}, "
            f"provider_status={self.provider_status!r})"
        )

from decimal import Decimal

import pytest

from apps.providers.adapters import ADAPTERS, get_adapter
from apps.providers.adapters.base import error_from_status, parse_retry_after
from apps.providers.errors import PROVIDER_ERROR_KINDS, ProviderError
from apps.providers.pricing import cost
from apps.providers.types import ToolCall, Usage


def test_tool_call_with_a_json_object_is_parsed():
    call = ToolCall.from_raw(id="c1", name="add_task", raw_arguments='{"title": "buy milk"}')
    assert call.arguments == {"title": "buy milk"} and call.error is None


def test_tool_call_with_invalid_json_keeps_raw_text_and_says_why():
    call = ToolCall.from_raw(id="c1", name="add_task", raw_arguments='{"title": "buy')
    assert call.arguments is None
    assert call.raw_arguments == '{"title": "buy'
    assert "not valid JSON" in call.error


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "42", "null"])
def test_tool_call_with_json_that_is_not_an_object_is_an_error(raw):
    call = ToolCall.from_raw(id="c1", name="add_task", raw_arguments=raw)
    assert call.arguments is None
    assert "must be a JSON object" in call.error


def test_tool_call_with_empty_arguments_means_no_arguments():
    assert ToolCall.from_raw(id="c1", name="list_tasks", raw_arguments="").arguments == {}


@pytest.mark.parametrize(
    "kind, code",
    [
        ("auth", "provider_auth_failed"),
        ("rate_limited", "provider_rate_limited"),
        ("unavailable", "provider_unavailable"),
        ("timeout", "provider_timeout"),
        ("bad_response", "provider_bad_response"),
        ("context_too_long", "provider_context_too_long"),
        ("bad_request", "provider_bad_request"),
    ],
)
def test_each_provider_error_kind_has_a_clear_code_and_a_502(kind, code):
    err = ProviderError(kind, provider="openai", provider_status=418)
    assert err.code == code
    assert err.status_code == 502
    assert err.as_dict()["extra"]["kind"] == kind
    assert err.extra["provider_status"] == 418


def test_all_kinds_are_covered_by_the_code_table():
    assert PROVIDER_ERROR_KINDS == {
        "auth", "rate_limited", "unavailable", "timeout", "bad_response", "context_too_long", "bad_request"
    }


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        ProviderError("nope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_seconds(headers, expected):
    assert parse_retry_after(headers) == expected


def test_status_classification_without_a_body():
    assert error_from_status(provider="x", status=502, headers=None, body="<html>").kind == "unavailable"
    assert error_from_status(provider="x", status=422, headers=None, body=None).kind == "bad_request"
    assert error_from_status(provider="x", status=408, headers=None, body=None).kind == "timeout"
    assert error_from_status(provider="x", status=413, headers=None, body=None).kind == "context_too_long"


def test_upstream_error_type_is_kept_only_when_it_is_a_plain_token():
    ok = error_from_status(provider="x", status=400, headers=None, body={"error": {"type": "invalid_request_error"}})
    odd = error_from_status(provider="x", status=400, headers=None, body={"error": {"type": "key sk-123 bad"}})
    assert ok.extra["provider_error_type"] == "invalid_request_error"
    assert "provider_error_type" not in odd.extra


def test_cost_is_exact_decimal_per_million_tokens():
    assert cost(Usage(1_000, 500), Decimal("2.50"), Decimal("10")) == Decimal("0.0075")
    assert cost(Usage(0, 0), "3", "15") == Decimal("0")
    assert cost(Usage(1_000_000, 1_000_000), "0.15", "0.60") == Decimal("0.75")


def test_registry_knows_the_four_kinds_and_imports_lazily():
    assert set(ADAPTERS) == {"openai", "anthropic", "openai_compatible", "offline"}
    for kind in ADAPTERS:
        assert get_adapter(kind).kind == kind
    with pytest.raises(KeyError, match="unknown provider kind"):
        get_adapter("gemini")

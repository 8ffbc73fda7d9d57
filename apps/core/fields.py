"""Serializer fields that refuse what DRF would quietly coerce, with rules the OpenAPI schema can state."""

import re

from django.core.validators import RegexValidator
from rest_framework import serializers

# ASCII whitespace only: the same set is trimmed here, matched by the schema's ECMAScript regex,
# and matched by Python's re, so documented and enforced rules cannot drift apart.
ASCII_WHITESPACE = " \t\n\r\f\v"
# The pattern MCP tool input schemas use for "no NUL characters" (the server words its error by it).
NO_NUL_PATTERN = r"^[^\x00]*$"
# One or more characters: drf-spectacular puts an allow_blank field's pattern in a oneOf beside
# {maxLength: 0}, and "" must match only that branch for the schema to accept it.
_NO_NUL = r"^[^\x00]+$"
_NOT_BLANK = r"^[^\x00]*[^\x00 \t\n\r\f\v][^\x00]*$"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(text: str) -> bool:
    """NUL (PostgreSQL refuses it in text) or a lone surrogate (not encodable as UTF-8): for views outside DRF."""
    return _UNSTORABLE.search(text) is not None


class _NotBlank(RegexValidator):
    """The not-blank pattern (it also excludes NUL, for the schema), worded by what is wrong.

    Text with a NUL that is not blank is refused by DRF's own ProhibitNullCharactersValidator
    ("Null characters are not allowed."); this one then says nothing, instead of "may not be blank".
    """

    def __call__(self, value):
        if isinstance(value, str) and "\x00" in value and value.strip(ASCII_WHITESPACE + "\x00"):
            return
        super().__call__(value)


class StrictCharField(serializers.CharField):
    """A CharField that rejects non-strings and NUL characters; ``not_blank`` also refuses whitespace-only text.

    Surrounding ASCII whitespace is trimmed after validation.
    """

    default_error_messages = {"not_a_string": "Must be a string."}

    def __init__(self, *, not_blank: bool = False, pattern: str | None = None, pattern_message: str = "", **kwargs):
        kwargs["trim_whitespace"] = False
        validators = list(kwargs.pop("validators", []))
        if pattern is not None:
            # The one pattern the schema states (drf-spectacular shows the last RegexValidator's):
            # it must itself exclude NUL and, where wanted, blank text.
            validators.append(RegexValidator(pattern, pattern_message or "This value is not accepted.", code="invalid"))
        elif not_blank:
            validators.append(_NotBlank(_NOT_BLANK, "This field may not be blank.", code="blank"))
        else:
            validators.append(RegexValidator(_NO_NUL, "Null characters are not allowed.", code="null_characters"))
        super().__init__(validators=validators, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        return value.strip(ASCII_WHITESPACE) if isinstance(value, str) else value


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: DRF's BooleanField would also take 1, "yes" or "on"."""

    default_error_messages = {"not_a_boolean": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("not_a_boolean")
        return data


class StrictIntegerField(serializers.IntegerField):
    """JSON integers only, for request bodies: DRF's IntegerField would also take "12" or 12.0."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """An integer from a query string: digits only (DRF would also take "0.0" or " 7")."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(r"-?[0-9]+", data):
            self.fail("invalid")
        return super().to_internal_value(data)

"""StrictCharField's errors say what is wrong with the text."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from apps.core.fields import StrictCharField


class Message(serializers.Serializer):
    message = StrictCharField(not_blank=True, max_length=50)


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("hi\x00there", ["Null characters are not allowed."]),  # was "This field may not be blank." first
        ("\x00", ["This field may not be blank.", "Null characters are not allowed."]),
        ("  \t", ["This field may not be blank."]),
        ("", ["This field may not be blank."]),
    ],
)
def test_each_error_names_its_own_cause(text, errors):
    form = Message(data={"message": text})
    assert not form.is_valid()
    assert [str(e) for e in form.errors["message"]] == errors


def test_good_text_is_trimmed_and_kept():
    form = Message(data={"message": "  buy milk \n"})
    assert form.is_valid(), form.errors
    assert form.validated_data["message"] == "buy milk"

"""Text helpers shared by the offline assistant's grammar and phrasing."""

from __future__ import annotations

import re

_I = re.IGNORECASE


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)
    return text.strip(" ,;:-–—")


def _unquote(text: str) -> str:
    text = text.strip()
    pairs = [("“", "”"), ('"', '"'), ("'", "'"), ("‘", "’"), ("«", "»")]
    for left, right in pairs:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            return text[1:-1].strip()
    return text


_POLITE_START = re.compile(
    r"^(?:please|pls|plz|hey|ok(?:ay)?|so|also|and|then|now|oh|um+|"
    r"(?:can|could|would|will) you(?: please)?|would you mind|i'd like you to|i want you to)[,!]?\s+",
    _I,
)


def _clean(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    text = re.sub(r"\s+", " ", text).strip()
    text = text.rstrip(" .!?")
    previous = None
    while previous != text:
        previous = text
        text = _POLITE_START.sub("", text)
    text = re.sub(r"[,\s]+(?:please|pls|thanks|thank you)$", "", text, flags=_I)
    return text.strip()


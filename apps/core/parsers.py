"""The API's JSON parser: refuses bodies nested deeper than API_JSON_MAX_DEPTH before decoding them."""

from __future__ import annotations

import io
import itertools
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# A JSON string (escapes included): brackets inside one are text, not nesting.
_STRING_RE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NESTING_ONLY = bytes(range(256)).translate(None, b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (0 for a scalar).

    Counted on the bytes, without recursion: Python's decoder recurses once per level and
    raises RecursionError (a 500) near 1,000 levels, and anything decoded deeper than a few
    dozen levels would recurse again in serializers and error rendering.
    """
    brackets = _STRING_RE.sub(b"", raw).translate(None, _NESTING_ONLY)
    if not brackets:
        return 0
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def check_json_depth(raw: bytes, max_depth: int | None = None) -> None:
    limit = settings.API_JSON_MAX_DEPTH if max_depth is None else max_depth
    if json_depth(raw) > limit:
        raise ParseError(f"JSON parse error - the body is nested deeper than {limit} levels.")


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with a nesting limit; every API view parses JSON through it."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        check_json_depth(raw)
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # belt and braces: a depth the scan above did not see
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ParseError as exc:
            # DRF words the decoder's error as is; for a number past Python's digit limit that
            # text tells the client to call sys.set_int_max_str_digits().
            if "integer string conversion" in str(exc.__context__ or ""):
                raise ParseError("JSON parse error - a number has too many digits.") from None
            raise

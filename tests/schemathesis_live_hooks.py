"""schemathesis CLI hooks for tests/test_openapi_live.py (SCHEMATHESIS_HOOKS=tests.schemathesis_live_hooks).

Drops only the documented data-dependent refusals (tests/schema_rules.py) and writes each one
it dropped to $SCHEMATHESIS_DROPPED_LOG, so the test can show them.
"""

from __future__ import annotations

import json
import os

import schemathesis

from tests.schema_rules import data_dependent_reason


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    if "positive_data_acceptance" not in getattr(failure, "checks", ()):
        return True
    operation = case.operation
    reason = data_dependent_reason(operation.method, operation.path, response.status_code, response.content)
    if reason is None:
        return True
    if log := os.environ.get("SCHEMATHESIS_DROPPED_LOG"):
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"operation": f"{operation.method.upper()} {operation.path}", "reason": reason}) + "\n")
    return False

"""Run one gateway call in a separate Python process and print what happened (for test_breaker_redis).

Usage: python -m tests.providers.breaker_child <fake base url>. Breaker settings and
PROVIDER_STATE_PREFIX come from the environment, as in any process of the app.
"""

from __future__ import annotations

import json
import os
import sys


def main(url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from tests.providers.gateway_helpers import context, route, run

    class Fake:
        openai_base_url = f"{url}/v1"
        anthropic_base_url = url

    ctx = context(route(Fake, "openai", "offline"))
    reply, _ = run(ctx)
    print(
        json.dumps(
            {
                "records": [r.as_dict() for r in ctx.records],
                "events": [e.action for e in ctx.events],
                "reply": getattr(reply, "text", repr(reply)),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])

"""Profile chat turns in-process (cProfile), against bench/fake_upstream.py.

    python bench/profile_turn.py [--turns 200] [--sort tottime]

A fresh SQLite file (or DATABASE_URL), the demo user with a provider at the fake; prints the
top functions and the mean turn time. For finding where a turn's own time goes.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--queries", action="store_true", help="print one turn's SQL statements and stop")
    args = parser.parse_args()
    from mcp_bench import free_port

    workdir = tempfile.mkdtemp(prefix="turn-profile-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/p.sqlite3")
    os.environ.setdefault("KEY_ENCRYPTION_KEYS", "bench:" + base64.b64encode(os.urandom(32)).decode())
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings.development", DJANGO_DEBUG="false", LOG_LEVEL="WARNING")
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_upstream.py"), str(port)])
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from chat_bench import SETUP
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user("demo", password="x")
        exec(SETUP.format(base_url=f"http://127.0.0.1:{port}/v1"))  # noqa: S102 - our own set-up text
        from apps.chat.services import chat_turn

        user = get_user_model().objects.get(username="demo")
        time.sleep(0.5)
        for _ in range(10):
            chat_turn(user=user, conversation_id=None, text="what is due today?")
        if args.queries:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                chat_turn(user=user, conversation_id=None, text="what is due today?")
            for query in captured.captured_queries:
                print(query["sql"][:220])
            print(f"{len(captured.captured_queries)} statements")
            return
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for _ in range(args.turns):
            chat_turn(user=user, conversation_id=None, text="what is due today?")
        profile.disable()
        elapsed = time.perf_counter() - started
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        print(f"mean turn (profiled): {elapsed / args.turns * 1000:.2f} ms")
        started = time.perf_counter()
        for _ in range(args.turns):
            chat_turn(user=user, conversation_id=None, text="what is due today?")
        print(f"mean turn (not profiled): {(time.perf_counter() - started) / args.turns * 1000:.2f} ms")
    finally:
        upstream.terminate()


if __name__ == "__main__":
    main()

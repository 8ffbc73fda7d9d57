"""A worker process for the cross-process limiter tests: N threads hit one key, admissions printed as JSON.

Usage: python -m tests.limits.limiter_worker KEY LIMIT WINDOW_SECONDS THREADS HITS_PER_THREAD [SPACING_SECONDS]
"""

import json
import os
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from apps.limits import limiter  # noqa: E402


def main() -> None:
    key, limit, window, threads, hits = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    spacing = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    start_at = float(os.environ.get("START_AT", "0"))
    admitted: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        while time.time() < start_at:
            time.sleep(0.001)
        for _ in range(hits):
            decision = limiter.window_hit(key, limit=limit, window_seconds=window)
            if decision.allowed:
                with lock:
                    admitted.append(decision.at_ms)
            if spacing:
                time.sleep(spacing)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps(admitted))


if __name__ == "__main__":
    main()

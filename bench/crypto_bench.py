"""Cost of sealing and opening one provider key (AES-256-GCM), and of the full open path with the database.

Run: .venv/bin/python bench/crypto_bench.py [--n 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

import django  # noqa: E402

django.setup()


def per_call_us(fn, n: int, repeats: int = 5) -> tuple[float, float]:
    """Median and best of `repeats` runs, in microseconds per call."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs), min(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()

    from django.core.management import call_command

    from apps.keys import crypto
    from apps.keys.vault import provider_key_create, provider_key_open
    from apps.providers.models import ProviderConfig

    key = "sk-proj-" + "x" * 156  # the length of a current OpenAI project key
    aad = b"todoassist/provider-key/v1|owner=1|provider=1"
    master_id, blob = crypto.seal(key, aad=aad)

    seal = per_call_us(lambda: crypto.seal(key, aad=aad), args.n)
    unseal = per_call_us(lambda: crypto.unseal(blob, master_key_id=master_id, aad=aad), args.n)

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench")
    provider_key_create(user=user, provider_name="openai", key=key)
    openai = ProviderConfig.objects.get(name="openai")
    full = per_call_us(lambda: provider_key_open(user=user, provider=openai), max(args.n // 20, 200))

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"key length: {len(key)} chars; n={args.n}")
    print("| operation | median µs/key | best µs/key |")
    print("|---|---|---|")
    print(f"| seal (encrypt, fresh nonce) | {seal[0]:.1f} | {seal[1]:.1f} |")
    print(f"| unseal (decrypt + verify) | {unseal[0]:.1f} | {unseal[1]:.1f} |")
    print(f"| provider_key_open (select + decrypt + last_used update, SQLite in memory) | {full[0]:.1f} | {full[1]:.1f} |")


if __name__ == "__main__":
    main()

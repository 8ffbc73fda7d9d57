"""Start django-mcp-server 0.5.7 for bench/mcp_bench.py, in its own virtualenv (never the project's requirements)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
VENV = BENCH.parent / ".bench-venv" / "django-mcp-server"
REQUIREMENTS = ["django-mcp-server==0.5.7", "mcp==1.30.0", "django>=5.2,<5.3", "uvicorn==0.34.0"]
POSTGRES_DRIVER = "psycopg[binary]==3.3.9"  # only when DJMCP_DATABASE_URL names PostgreSQL


def python() -> Path:
    exe = VENV / "bin" / "python"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *REQUIREMENTS], check=True)
    return exe


def _env(env: dict[str, str]) -> dict[str, str]:
    database = Path(env.get("DJMCP_DATABASE") or (Path(os.environ.get("TMPDIR", "/tmp")) / f"djmcp-{os.getpid()}.sqlite3"))
    clean = {k: v for k, v in env.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH")}
    return {**clean, "DJANGO_SETTINGS_MODULE": "djmcp.settings", "DJMCP_DATABASE": str(database), "PYTHONPATH": str(BENCH)}


def start(port: int, env: dict[str, str]) -> subprocess.Popen:
    exe = python()
    env = _env(env)
    if env.get("DJMCP_DATABASE_URL", "").startswith("postgres"):
        if subprocess.run([str(exe), "-c", "import psycopg"], capture_output=True).returncode != 0:
            subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", POSTGRES_DRIVER], check=True)
    Path(env["DJMCP_DATABASE"]).unlink(missing_ok=True)
    # The migrated apps first: on PostgreSQL the bench app's tables (no migrations) refer to auth_user.
    subprocess.run([str(exe), "-m", "django", "migrate", "-v", "0"], env=env, check=True, cwd=BENCH)
    subprocess.run([str(exe), "-m", "django", "migrate", "--run-syncdb", "-v", "0"], env=env, check=True, cwd=BENCH)
    with open(os.devnull, "w") as devnull:
        return subprocess.Popen(
            [str(exe), "-m", "uvicorn", "djmcp.asgi:application", "--port", str(port), "--log-level", "warning",
             "--no-access-log"],
            env=env, cwd=BENCH, stdout=devnull, stderr=devnull,
        )


SEED = """
from django.contrib.auth import get_user_model
from djmcp.benchapp.models import Task
user, _ = get_user_model().objects.get_or_create(username="demo")
print(Task.objects.create(owner=user, title="benchmark task").pk)
"""


def prepare(env: dict[str, str]) -> int:
    """The demo user and one task; the task's id."""
    done = subprocess.run(
        [str(python()), "-m", "django", "shell", "-c", SEED], env=_env(env), cwd=BENCH, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])

"""The way to the admin for a new user, from a clean copy of the project: `make admin`, then sign in at /admin/.

Scripted as a newcomer would run it: the project's tracked files copied to a fresh directory (no
database, no master key, no .env), `make admin` there, then the clone's own server code signs in
to /admin/ with the account it made. The shared virtualenv stands in for the one `make` would
install (`-o .venv/bin/.installed`: nothing is installed).
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD = "ops", "a-long-Admin-passphrase-42"
TIMEOUT = 240

LOGIN_CHECK = r"""
import re
from django.test import Client
client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
form = client.get("/admin/login/?next=/admin/").content.decode()
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
answer = client.post("/admin/login/?next=/admin/", {"username": %r, "password": %r, "next": "/admin/", "csrfmiddlewaretoken": token})
assert answer.status_code == 302 and answer["Location"] == "/admin/", (answer.status_code, answer.content[:500])
home = client.get("/admin/")
assert home.status_code == 200 and b"Site administration" in home.content, home.status_code
print("ADMIN-OK")
"""


@pytest.fixture(scope="module")
def tools():
    for tool in ("git", "make"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the clean copy is made from git's list of files")


@pytest.fixture
def clean_clone(tmp_path, tools) -> Path:
    """The project's files as a fresh clone of this tree has them (tracked and new, nothing git ignores)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    clone = tmp_path / "todoassist"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (clone / "db.sqlite3").exists() and not (clone / ".local").exists()
    (clone / ".venv").symlink_to(Path(sys.prefix))
    return clone


def newcomer_env(**extra) -> dict[str, str]:
    """The environment of a new user's shell: none of the test run's database, cache or settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MAKE", "PYTEST"))}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "KEY_ENCRYPTION_KEYS", "REQUIRE_SERVICES"):
        env.pop(name, None)
    return {**env, "PYTHON": sys.executable, **extra}


def make(clone: Path, *targets: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-o", ".venv/bin/.installed", *targets],
        cwd=clone, env=env, capture_output=True, text=True, timeout=TIMEOUT, **kwargs,
    )


def signs_in_to_the_admin(clone: Path) -> str:
    check = subprocess.run(
        [str(clone / ".venv/bin/python"), "manage.py", "shell", "-c", LOGIN_CHECK % (USERNAME, PASSWORD)],
        cwd=clone, env=newcomer_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )
    return check.stdout + check.stderr


def test_make_admin_then_sign_in_works_from_a_clean_clone(clean_clone):
    env = newcomer_env(DJANGO_SUPERUSER_USERNAME=USERNAME, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
    made = make(clean_clone, "admin", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Superuser created successfully." in made.stdout

    assert "ADMIN-OK" in signs_in_to_the_admin(clean_clone)


def test_make_admin_asks_a_person_for_the_account_at_a_terminal(clean_clone):
    """What a newcomer types: `make admin`, then a name, an e-mail address and the password twice."""
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        ["make", "-o", ".venv/bin/.installed", "admin"],
        cwd=clean_clone, env=newcomer_env(), stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
    )
    os.close(terminal)
    answers = [("Username", USERNAME), ("Email address", ""), ("Password:", PASSWORD), ("Password (again)", PASSWORD)]
    seen, deadline = "", time.monotonic() + TIMEOUT
    try:
        while child.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                continue
            try:
                seen += os.read(controller, 4096).decode(errors="replace")
            except OSError:  # the terminal closed: make is done
                break
            if answers and answers[0][0] in seen.rsplit("\n", 1)[-1]:
                os.write(controller, (answers.pop(0)[1] + "\n").encode())
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(controller)
    assert child.returncode == 0 and not answers, seen
    assert re.search(r"Superuser created successfully\.", seen), seen

    assert "ADMIN-OK" in signs_in_to_the_admin(clean_clone)


def test_make_run_says_how_to_get_an_admin_account(clean_clone):
    planned = make(clean_clone, "-n", "run", env=newcomer_env())  # -n: print the commands, run none
    assert planned.returncode == 0, planned.stderr
    assert re.search(r"echo \"Admin: http://127\.0\.0\.1:8000/admin/ .*run 'make admin'", planned.stdout), planned.stdout


def test_the_readme_shows_the_way_on_its_first_screen():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "make admin" in first_screen and "/admin/" in first_screen

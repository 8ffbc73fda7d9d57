"""Hardening: the CSP (no inline script anywhere) and security headers on every page, `check --deploy` clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_user

BASE_DIR = Path(__file__).resolve().parents[2]
PAGES = ["/", "/accounts/login/", "/chat/", "/usage/", "/settings/keys/", "/admin/", "/api/docs/", "/api/redoc/"]
DOCS_PAGES = {"/api/docs/", "/api/redoc/"}


def _directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_csp_without_inline_script_and_the_security_headers(client, path):
    user = make_user("csp")
    user.is_staff = True
    user.save()
    client.force_login(user)
    response = client.get(path, follow=True)
    assert response.status_code == 200, path
    policy = _directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # Inline styles only where Swagger UI and ReDoc need them.
    assert ("'unsafe-inline'" in policy["style-src"]) == (path in DOCS_PAGES), policy["style-src"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_no_template_has_an_inline_script_or_style_attribute():
    for template in (BASE_DIR / "templates").rglob("*.html"):
        text = template.read_text()
        assert " style=" not in text and "<style" not in text, template
        for chunk in text.split("<script")[1:]:
            assert chunk.lstrip().startswith("src="), f"inline script in {template}"


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x7#Qe!m2Vz9@kLp4Rt6&Yw8^Nb3*Hc5%Jd1(Fg0)Sa-Ue+Io=Py~Tr" * 2,
        KEY_ENCRYPTION_KEYS="deploy1:" + "ZGVwbG95LWNoZWNrLW1hc3Rlci1rZXktMzItYnl0ZXM=",
        DJANGO_ALLOWED_HOSTS="todo.example.com",
        **extra,
    )
    return env


def test_check_deploy_is_clean_with_production_settings():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=_production_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_fails_when_https_protections_are_turned_off():
    # The test above is only worth something if the check sees these settings.
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=_production_env(DJANGO_SECURE_COOKIES="0", DJANGO_HSTS_SECONDS="0"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout and "security.W012" in done.stderr + done.stdout

"""Master keyring parsing and AES-256-GCM sealing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.keys import crypto
from apps.keys.keyring import KeyringConfigError, generate_master_key_entry, parse_master_keys

GOOD = base64.b64encode(b"k" * 32).decode()


def test_parses_newest_first():
    keys = parse_master_keys(f"b:{GOOD}, a:{GOOD}")
    assert [k.id for k in keys] == ["b", "a"]
    assert "k" * 32 not in repr(keys)  # key material never in a repr


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("nocolon", "no ':' found"),
        (f"bad id:{GOOD}", "the id must be"),
        ("a:not-base64!!", "not valid base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "must decode to 32 bytes, not 5"),
        (f"a:{GOOD},a:{GOOD}", "used twice"),
    ],
)
def test_malformed_keyrings_are_refused_with_a_clear_message(raw, fragment):
    with pytest.raises(KeyringConfigError, match=fragment) as info:
        parse_master_keys(raw)
    assert GOOD not in str(info.value)


def test_generated_entries_parse():
    assert parse_master_keys(generate_master_key_entry("x1"))[0].id == "x1"


def _settings_import(env_extra: dict[str, str], module: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KEY_ENCRYPTION_KEYS", "DJANGO_SECRET_KEY")}
    env.update(env_extra, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_master_keys():
    result = _settings_import({"DJANGO_SECRET_KEY": "x" * 50}, "config.settings.production")
    assert result.returncode != 0 and "KEY_ENCRYPTION_KEYS must be set in production" in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_import({"KEY_ENCRYPTION_KEYS": f"a:{GOOD}"}, "config.settings.production")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_a_malformed_keyring_stops_start_up_naming_the_problem():
    result = _settings_import({"KEY_ENCRYPTION_KEYS": "a:tooshort"}, "config.settings.development")
    assert result.returncode != 0
    assert "KEY_ENCRYPTION_KEYS entry 1 ('a')" in result.stderr and "ImproperlyConfigured" in result.stderr


def test_production_starts_with_both():
    result = _settings_import(
        {"KEY_ENCRYPTION_KEYS": f"a:{GOOD}", "DJANGO_SECRET_KEY": "x" * 50}, "config.settings.production"
    )
    assert result.returncode == 0, result.stderr


def test_seal_uses_the_newest_key_and_a_fresh_nonce(settings):
    master_id, first = crypto.seal("secret value", aad=b"row")
    _, second = crypto.seal("secret value", aad=b"row")
    assert master_id == settings.KEY_ENCRYPTION_KEYS[0].id
    assert first != second  # a fresh 96-bit nonce every time
    assert first[1:13] != second[1:13]
    assert b"secret value" not in first
    assert crypto.unseal(first, master_key_id=master_id, aad=b"row") == "secret value"


def test_other_associated_data_fails_authentication():
    master_id, blob = crypto.seal("secret value", aad=b"owner=1")
    with pytest.raises(crypto.CiphertextInvalid):
        crypto.unseal(blob, master_key_id=master_id, aad=b"owner=2")


def test_an_older_master_key_still_decrypts(settings):
    older = settings.KEY_ENCRYPTION_KEYS[1:]
    settings.KEY_ENCRYPTION_KEYS = older
    master_id, blob = crypto.seal("v", aad=b"a")
    settings.KEY_ENCRYPTION_KEYS = parse_master_keys(f"new:{GOOD}") + older
    assert crypto.unseal(blob, master_key_id=master_id, aad=b"a") == "v"


@pytest.mark.parametrize("blob", [b"", b"\x01" + b"0" * 10, b"\x02" + b"0" * 40])
def test_truncated_or_unknown_format_is_refused(blob, settings):
    with pytest.raises(crypto.CiphertextInvalid):
        crypto.unseal(blob, master_key_id=settings.KEY_ENCRYPTION_KEYS[0].id, aad=b"a")


def test_no_master_key_is_a_clear_error(settings):
    settings.KEY_ENCRYPTION_KEYS = ()
    with pytest.raises(crypto.NoMasterKey, match="KEY_ENCRYPTION_KEYS"):
        crypto.seal("v", aad=b"a")


def test_secret_never_shows_its_value():
    import pickle

    from apps.keys.secret import Secret

    secret = Secret("sk-live-value")
    assert "sk-live-value" not in f"{secret} {secret!r} {[secret]} {secret:>20}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret.reveal() == "sk-live-value"

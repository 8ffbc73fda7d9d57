"""`keys` is the lower layer: it seals, opens and marks keys, and imports nothing from `providers`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import apps.keys

KEYS_DIR = Path(apps.keys.__file__).parent


def _modules():
    return sorted(p for p in KEYS_DIR.rglob("*.py") if "migrations" not in p.parts)


def _imported_names(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_module_of_apps_keys_imports_apps_providers():
    offenders = {
        str(path.relative_to(KEYS_DIR)): name
        for path in _modules()
        for name in _imported_names(path)
        if name == "apps.providers" or name.startswith("apps.providers.")
    }
    assert offenders == {}


def test_no_module_of_apps_keys_names_apps_providers_for_a_dynamic_import():
    # import_module("apps.providers…") or import_string would slip past the AST check above.
    named = [str(p.relative_to(KEYS_DIR)) for p in _modules() if "apps.providers" in p.read_text()]
    assert named == []


def test_importing_every_keys_module_loads_no_providers_code():
    """Django's app registry loads every app's models; beyond those, nothing of `providers` may be imported."""
    modules = [
        "apps.keys." + ".".join(p.relative_to(KEYS_DIR).with_suffix("").parts)
        for p in _modules()
        if p.name != "__init__.py"
    ]
    script = (
        "import os, sys, importlib, django\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.test'\n"
        "django.setup()\n"
        "before = {m for m in sys.modules if m.startswith('apps.providers')}\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "after = {m for m in sys.modules if m.startswith('apps.providers')}\n"
        "print(sorted(after - before))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=KEYS_DIR.parent.parent
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"

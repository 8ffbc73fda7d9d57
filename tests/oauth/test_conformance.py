"""The MCP conformance suite's generic scenarios pass with a personal token and with an OAuth token."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.factories import make_token
from tests.mcp_tools.test_inspector_cli import _require_inspector
from tests.oauth.helpers import issue_tokens

pytestmark = pytest.mark.django_db(transaction=True)

CHECK = Path("/work/shared/checks/mcp-conformance")


def _conformance(url: str, token: str) -> str:
    if not CHECK.is_file():
        pytest.skip(f"{CHECK} is not on this machine")
    _require_inspector()  # the same Node 22 tool directory
    done = subprocess.run([str(CHECK), f"{url}/mcp", token], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("kind", ["personal", "oauth"])
def test_the_generic_conformance_scenarios_pass(oauth_server, alice, kind):
    token = make_token(alice) if kind == "personal" else issue_tokens(oauth_server)["access_token"]
    out = _conformance(oauth_server, token)
    assert "scenarios: 5, failed: 0" in out

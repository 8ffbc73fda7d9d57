"""The schemathesis 4 CLI against the live server (uvicorn, real HTTP): every check, every phase, stateful too.

The in-process run (tests/test_openapi_schema.py) goes through WSGI; this one sends what a real
client sends, over a socket, with a bearer token. The run is bounded (SCHEMATHESIS_LIVE_EXAMPLES
cases per operation and phase, 10 by default: about half a minute). It must end with no
failure and no error; the only failures it may drop are the documented data-dependent 400s in
tests/schema_rules.py, recognised by the server's own message (listed below when they occur).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apps.keys.models import AccessToken
from apps.keys.tokens import hash_token
from tests.factories import make_task, make_user
from tests.schema_rules import DATA_DEPENDENT_400

BASE_DIR = Path(__file__).resolve().parents[1]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
TOKEN = "tda_schemalive01_" + "L" * 43  # a key id is 12 characters

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_api(transactional_db):
    """config.asgi.application under uvicorn on a free port (its own thread and database connection)."""
    import uvicorn

    from config.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_the_live_server_passes_every_schemathesis_check_including_the_stateful_phase(live_api, providers_at_fake, tmp_path):
    # providers_at_fake: keys the run adds are checked against the fake provider, never a real one.
    assert SCHEMATHESIS.exists(), f"schemathesis CLI not found at {SCHEMATHESIS} (requirements/dev.txt)"
    user = make_user("stlive")
    for i in range(3):
        make_task(user, title=f"seed {i}")
    AccessToken.objects.create(user=user, name="schemathesis-live", key_id="schemalive01", token_hash=hash_token(TOKEN))

    report, dropped = tmp_path / "report.json", tmp_path / "dropped.jsonl"
    examples = os.environ.get("SCHEMATHESIS_LIVE_EXAMPLES", "10")
    command = [
        str(SCHEMATHESIS), "run", f"{live_api}/api/schema/",
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", examples,
        "--header", f"Authorization: Bearer {TOKEN}",
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    if os.environ.get("CI") == "true":
        command += ["--seed", "19"]  # CI replays one seed; local runs keep exploring
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_live_hooks",
        "SCHEMATHESIS_DROPPED_LOG": str(dropped),
        "PYTHONPATH": str(BASE_DIR),
    }
    # Its own working directory: the CLI keeps a .schemathesis/ cache there.
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=str(tmp_path))
    output = done.stdout[-6000:] + done.stderr[-2000:]
    assert report.exists(), output
    result = json.loads(report.read_text())

    assert result["complete"] and result["operations"]["tested"] == result["operations"]["total"] > 20, output
    assert result["phases"]["stateful"]["status"] != "skip", output
    assert result["failures"] == [] and result["errors"] == [], output
    assert done.returncode == 0, output
    excused = [json.loads(line) for line in dropped.read_text().splitlines()] if dropped.exists() else []
    documented = {f"{method} {path}" for method, path in DATA_DEPENDENT_400}
    assert {item["operation"] for item in excused} <= documented
    assert result["filtered"] == len(excused)
    print(f"\n{result['test_cases']['generated']} cases; excused data-dependent 400s: {len(excused)}")
    for item in {(i["operation"], i["reason"]) for i in excused}:
        print(" -", *item)

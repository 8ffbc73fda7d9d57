"""The schemathesis 4 CLI against the live server (uvicorn, real HTTP): every check, every phase, stateful too.

The in-process run (tests/test_openapi_schema.py) goes through WSGI; this one sends what a real
client sends, over a socket, with a bearer token. The run is bounded (SCHEMATHESIS_LIVE_EXAMPLES
cases per operation and phase, 10 by default: about half a minute). It must end with no
failure and no error; the only failures it may drop are the documented data-dependent 400s in
tests/schema_rules.py, recognised by the server's own message (listed below when they occur).
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from apps.keys.models import AccessToken
from apps.keys.tokens import hash_token
from tests.factories import make_task, make_user
from tests.schemathesis_cli import run_schemathesis

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
    user = make_user("stlive")
    for i in range(3):
        make_task(user, title=f"seed {i}")
    AccessToken.objects.create(user=user, name="schemathesis-live", key_id="schemalive01", token_hash=hash_token(TOKEN))

    run = run_schemathesis(
        live_api, TOKEN, tmp_path,
        examples=os.environ.get("SCHEMATHESIS_LIVE_EXAMPLES", "10"),
        stateful_examples=os.environ.get("SCHEMATHESIS_LIVE_STATEFUL_EXAMPLES", "10"),
    )  # fmt: skip
    run.assert_clean()

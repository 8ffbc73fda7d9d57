"""The production stack end to end: `bin/stack` (make stack) started here, on PostgreSQL, Redis and RabbitMQ.

Two uvicorn web processes share one port, a Celery worker and Celery beat run beside them; this
module starts the stack once (its own database, cache key prefix, task queue and port), proves
what only a multi-process stack can show, and stops the process group it started - nothing else.

Which web process answered a request is read from the stack's JSON request log (the pid on the
line carrying the request's X-Request-ID), so "both web processes" is checked, not assumed.

Cross-process promises covered here (one test each; add the next one beside them):
- token revocation: a token revoked through the ORM is refused by both web processes at once;
- the circuit breaker: opened by failures seen in one process, honoured by both (state in Redis);
- /metrics: counts merged across both web processes (Prometheus multi-process mode);
- a rate limit: hits spread over both processes admit exactly the limit in total;
- cache invalidation: a task written through one process is seen by a cached read in the other.

STACK_TEST_PORT and STACK_FAKE_PROVIDER_PORT name the ports it may use (default: free ones);
STACK_BROKER_URL the RabbitMQ vhost; the database is DATABASE_URL's name + "_stack".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx2
import pytest

from tests.fakes.provider_server import FakeProviderServer
from tests.services import REQUIRE_SERVICES, require_service

BASE_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 120
METRICS_TOKEN = "stack-metrics-" + "m" * 24

pytestmark = [pytest.mark.stack, pytest.mark.postgres, pytest.mark.redis]


def _unavailable(message: str):
    if REQUIRE_SERVICES:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def _port(env_var: str) -> int:
    """The port named by env_var (so a shared machine can give each run its own range), else a free one."""
    if os.environ.get(env_var):
        return int(os.environ[env_var])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_sql(database_url: str, *statements: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        for statement in statements:
            connection.execute(statement)


class Stack:
    def __init__(self, base_url: str, log_path: Path, env: dict[str, str]) -> None:
        self.base_url = base_url
        self.log_path = log_path
        self.env = env
        self.token = ""
        self.token_id = 0

    # -- HTTP, one connection per request (so the kernel may hand it to either web process) --
    def request(self, method: str, path: str, *, token: str | None = None, request_id: str | None = None, **kw):
        headers = {"X-Request-ID": request_id or uuid.uuid4().hex, "Connection": "close", **kw.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        with httpx2.Client(timeout=30) as client:
            response = client.request(method, self.base_url + path, headers=headers, **kw)
        response.request_id = headers["X-Request-ID"]
        return response

    def manage(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done.stdout

    # -- the stack's JSON log --------------------------------------------------------------
    def log_records(self) -> list[tuple[str, dict]]:
        """(process name, record) for every JSON line honcho printed, e.g. ("web.1", {...})."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            prefix, sep, rest = line.partition(" | ")
            if not sep or not rest.startswith("{"):
                continue
            try:
                records.append((prefix.split()[-1], json.loads(rest)))
            except (json.JSONDecodeError, IndexError):
                continue
        return records

    def pids_by_request_id(self) -> dict[str, int]:
        """Which web process served each request: its request line, or for /mcp (outside Django) its tool line."""
        return {
            record["request_id"]: record["pid"]
            for name, record in self.log_records()
            if name.startswith("web") and record.get("logger") in ("apps.request", "apps.mcp")
            and record.get("request_id")
        }

    def pids_of(self, responses, timeout: float = 10) -> list[int]:
        """The web process that served each response (waits for the log lines, written as responses leave)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids_by_request_id()
            if all(r.request_id in pids for r in responses) or time.monotonic() > deadline:
                return [pids.get(r.request_id) for r in responses]
            time.sleep(0.2)

    def new_user(self, username: str, *, tasks: tuple[str, ...] = (), **policy) -> str:
        """A user of the test's own (with a limit policy and tasks if given); prints back an access token."""
        code = "\n".join([
            "from django.contrib.auth import get_user_model",
            "from apps.keys.services import access_token_create",
            "from apps.limits.models import UserPolicy",
            "from apps.todos.services import task_create",
            f"user = get_user_model().objects.create_user({username!r}, password='stack-password-9')",
            f"policy = {policy!r}",
            "if policy: UserPolicy.objects.create(user=user, **policy)",
            f"for title in {list(tasks)!r}: task_create(user=user, title=title)",
            "print('TOKEN', access_token_create(user=user, name='stack').plaintext)",
        ])  # fmt: skip
        return self.manage("shell", stdin=code).split("TOKEN ", 1)[1].split()[0]

    def mcp_call(self, token: str, tool: str, arguments: dict, request_id: str | None = None):
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        return self.request(
            "POST", "/mcp", token=token, json=message, request_id=request_id,
            headers={"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"},
        )  # fmt: skip

    def wait_for_log(self, predicate, timeout: float, what: str) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(name, record) for name, record in self.log_records() if predicate(name, record)]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no log line for {what} within {timeout}s; log tail:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _spread(stack: Stack, send, *, want_pids: int = 2, batch: int = 8, batches: int = 12):
    """Sends requests in concurrent batches until `want_pids` web processes answered; (pid, response) pairs."""
    answered: list[tuple[int | None, httpx2.Response]] = []
    with ThreadPoolExecutor(batch) as pool:
        for _ in range(batches):
            answered.extend((None, r) for r in pool.map(lambda _: send(), range(batch)))
            time.sleep(0.3)  # the request log line is written as the response leaves
            pids = stack.pids_by_request_id()
            answered = [(pids.get(r.request_id), r) for _, r in answered]
            if len({pid for pid, _ in answered if pid is not None}) >= want_pids:
                break
    return answered


@pytest.fixture(scope="module")
def fake_provider_for_stack():
    with FakeProviderServer(bind_port=_port("STACK_FAKE_PROVIDER_PORT")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, fake_provider_for_stack):
    database_url = require_service("PostgreSQL", "DATABASE_URL")
    redis_url = require_service("Redis", "REDIS_URL")
    if not database_url.startswith(("postgres://", "postgresql://")):
        _unavailable("the stack test needs PostgreSQL (DATABASE_URL)")
    broker_url = os.environ.get("STACK_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    if not _reachable(broker_url, 5672):
        _unavailable(f"RabbitMQ not reachable for the stack test (STACK_BROKER_URL, default {broker_url})")

    run_id = uuid.uuid4().hex[:8]
    parts = urlsplit(database_url)
    db_name = (parts.path.lstrip("/") or "todoassist") + "_stack"
    stack_database_url = urlunsplit(parts._replace(path="/" + db_name))
    _admin_sql(database_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    tmp = tmp_path_factory.mktemp("stack")
    port = _port("STACK_TEST_PORT")
    base_url = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST_", "CELERY_", "PROMETHEUS_")) and key != "REQUIRE_SERVICES"
    }
    env.update(
        STACK_ENV_FILE=str(BASE_DIR / ".env.stack"),
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=stack_database_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=broker_url,
        CELERY_TASK_DEFAULT_QUEUE=f"stack-{run_id}",
        CACHE_KEY_PREFIX=f"stack-{run_id}",
        STACK_PORT=str(port),
        MCP_PUBLIC_URL=base_url,
        METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "prometheus"),
        DJANGO_SECRET_KEY="stack-test-secret-" + uuid.uuid4().hex,
        KEY_ENCRYPTION_KEYS="stack1:" + "c3RhY2stdGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=",
        LOG_FORMAT="json",
        # The breaker test: two failures in a row open a provider's breaker for two minutes.
        PROVIDER_BREAKER_FAILURE_THRESHOLD="2",
        PROVIDER_BREAKER_COOLDOWN_SECONDS="120",
        PROVIDER_MAX_RETRIES="0",
        STACK_FAKE_PROVIDER_URL=fake_provider_for_stack.url,
        BIN=str(Path(sys.executable).parent),
    )
    log_path = tmp / "stack.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(BASE_DIR / "bin" / "stack")], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped below as a whole, nothing else
    )  # fmt: skip
    stack = Stack(base_url, log_path, env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert process.poll() is None, f"the stack exited ({process.returncode}):\n{stack.tail()}"
            assert time.monotonic() < deadline, f"/readyz not 200 within {START_TIMEOUT_SECONDS}s:\n{stack.tail()}"
            try:
                if httpx2.get(base_url + "/readyz", timeout=3).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.5)
        seeded = stack.manage("shell", stdin=(BASE_DIR / "tests" / "stack" / "seed.py").read_text())
        facts = json.loads(seeded.split("SEED ", 1)[1].splitlines()[0])
        stack.token, stack.token_id = facts["token"], facts["token_id"]
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()
        try:
            _admin_sql(database_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        except Exception:  # the next run drops it first anyway
            pass
        try:  # the run's own task queue, so runs on a kept machine do not pile queues up in the broker
            from kombu import Connection

            with Connection(broker_url, connect_timeout=5) as connection:
                connection.default_channel.queue_delete(env["CELERY_TASK_DEFAULT_QUEUE"])
        except Exception:
            pass


def test_two_web_processes_answer_on_one_port(stack):
    answered = _spread(stack, lambda: stack.request("GET", "/readyz"))
    assert all(r.status_code == 200 for _, r in answered)
    assert len({pid for pid, _ in answered if pid}) == 2, stack.tail()


def _validate_a_new_key(stack: Stack, secret: str, request_id: str | None = None, wait: bool = True) -> int:
    created = stack.request("POST", "/api/v1/keys/", token=stack.token, json={"provider": "openai", "key": secret})
    assert created.status_code == 201, created.text
    key_id = created.json()["id"]
    queued = stack.request("POST", f"/api/v1/keys/{key_id}/validate/", token=stack.token, request_id=request_id)
    assert queued.status_code == 202, queued.text
    deadline = time.monotonic() + 30
    while wait:
        key = stack.request("GET", f"/api/v1/keys/{key_id}/", token=stack.token).json()
        if key["last_validated_at"]:
            break
        assert time.monotonic() < deadline, f"the key was not checked within 30 s: {key}\n{stack.tail()}"
        time.sleep(0.5)
    return key_id


def test_a_key_is_validated_by_the_real_worker_with_the_request_id_in_its_task(stack, fake_provider_for_stack):
    request_id = "stack-key-" + uuid.uuid4().hex[:12]
    key_id = _validate_a_new_key(stack, "sk-stack-test-key-0001", request_id)
    key = stack.request("GET", f"/api/v1/keys/{key_id}/", token=stack.token).json()
    assert key["status"] == "active" and key["last_validated_at"], key
    assert fake_provider_for_stack.requests_to("models"), "the worker never called the provider"
    # The worker ran it, under the id of the request that queued it.
    lines = stack.wait_for_log(
        lambda name, r: name.startswith("worker") and r.get("request_id") == request_id and "finished" in r.get("message", ""),
        10, "the validation task in the worker",
    )  # fmt: skip
    assert lines[0][1].get("state") == "SUCCESS"


def test_a_chat_turn_through_the_fake_provider_calls_an_mcp_tool_under_its_request_id(stack, fake_provider_for_stack):
    _validate_a_new_key(stack, "sk-stack-chat-key-02", wait=False)
    stack.request("PUT", "/api/v1/preferences/", token=stack.token, json={"provider": "openai"})
    fake_provider_for_stack.reply_tool_calls("openai", [("add_task", {"title": "bought by the stack"})])
    fake_provider_for_stack.reply_text("openai", "Added it.")
    request_id = "stack-chat-" + uuid.uuid4().hex[:12]
    answer = stack.request("POST", "/api/v1/chat/", token=stack.token, request_id=request_id, json={"message": "add milk"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["provider"] == "openai" and body["reply"] == "Added it.", body
    assert [call["name"] for call in body["tool_calls"]] == ["add_task"] and not body["tool_calls"][0]["is_error"]
    tool_lines = stack.wait_for_log(
        lambda name, r: r.get("logger") == "apps.mcp" and r.get("request_id") == request_id, 10, "the chat's MCP tool call"
    )
    assert tool_lines[0][1]["tool"] == "add_task" and tool_lines[0][1]["outcome"] == "success"
    request_lines = stack.wait_for_log(
        lambda name, r: r.get("logger") == "apps.request" and r.get("request_id") == request_id, 10, "the chat request"
    )
    assert request_lines[0][1]["route"] == "/api/v1/chat/" and request_lines[0][1]["status"] == 200
    # The tool ran in the web process that served the chat request.
    assert tool_lines[0][1]["pid"] == request_lines[0][1]["pid"]


def test_an_mcp_tools_call_over_http(stack):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}
    response = stack.request(
        "POST", "/mcp", token=stack.token, json=message,
        headers={"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"},
    )  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    result = response.json()["result"]
    assert result["isError"] is False, result


def test_beat_runs_the_one_minute_report_through_the_worker(stack):
    lines = stack.wait_for_log(
        lambda name, r: name.startswith("worker") and r.get("message") == "beat heartbeat", 45, "the beat heartbeat"
    )
    report = lines[0][1]["report"]
    assert report["audit_events"] >= 1 and report["ran_at"] > 0
    assert any(name.startswith("beat") for name, _ in stack.log_records()) or "beat" in stack.tail(400)


def test_metrics_are_merged_across_both_web_processes_and_refused_without_credentials(stack):
    from prometheus_client.parser import text_string_to_metric_families

    from apps.core.metrics import FAMILIES

    answered = _spread(stack, lambda: stack.request("GET", "/api/v1/tasks/", token=stack.token))
    pids = {pid for pid, _ in answered if pid}
    assert len(pids) == 2, stack.tail()
    served = len(answered)

    assert stack.request("GET", "/metrics").status_code == 403
    assert stack.request("GET", "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    response = stack.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert set(FAMILIES) <= set(families), sorted(set(FAMILIES) - set(families))
    tasks_ok = sum(
        sample.value
        for sample in families["todoassist_http_requests"].samples
        if sample.name.endswith("_total")
        and sample.labels.get("route") == "/api/v1/tasks/" and sample.labels.get("status") == "200"
    )  # fmt: skip
    # Whichever process answered /metrics, it counts what both served.
    assert tasks_ok >= served

    # Provider attempts are counted where they happen: this key check runs in a worker child process.
    _validate_a_new_key(stack, "sk-stack-metric-key-3", wait=False)
    deadline = time.monotonic() + 20
    while True:
        text = stack.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
        attempts = [
            s for f in text_string_to_metric_families(text) if f.name == "todoassist_provider_attempts" for s in f.samples
        ]
        if any(s.labels.get("operation") == "validate_key" and s.labels.get("outcome") == "ok" for s in attempts):
            break
        assert time.monotonic() < deadline, attempts
        time.sleep(0.5)
    tasks = [s for f in text_string_to_metric_families(text) if f.name == "todoassist_celery_tasks" for s in f.samples]
    assert any(s.labels.get("outcome") == "success" and s.value >= 1 for s in tasks), tasks


def test_a_revoked_token_is_refused_by_both_web_processes(stack):
    created = stack.manage(
        "shell", "-c",
        "from django.contrib.auth import get_user_model; from apps.keys.services import access_token_create; "
        "t = access_token_create(user=get_user_model().objects.get(username='stackuser'), name='revoke-me'); "
        "print('TOKEN', t.plaintext, t.token.pk)",
    )  # fmt: skip
    token, token_id = created.split("TOKEN ", 1)[1].split()[:2]
    # Both processes have verified (and keep a copy of) the token.
    warm = _spread(stack, lambda: stack.request("GET", "/api/v1/tasks/", token=token))
    assert all(r.status_code == 200 for _, r in warm)
    assert len({pid for pid, _ in warm if pid}) == 2, stack.tail()

    stack.manage(
        "shell", "-c",
        "from django.contrib.auth import get_user_model; from apps.keys.services import access_token_revoke; "
        f"access_token_revoke(user=get_user_model().objects.get(username='stackuser'), token_id={int(token_id)})",
    )  # fmt: skip
    refused = _spread(stack, lambda: stack.request("GET", "/api/v1/tasks/", token=token))
    assert [r.status_code for _, r in refused if r.status_code != 401] == []
    assert len({pid for pid, _ in refused if pid}) == 2, stack.tail()


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/mcp", {"Accept": "application/json, text/event-stream"}), ("/api/v1/chat/", {"Accept": "text/event-stream"})],
)
def test_a_chunked_body_over_the_limit_is_a_413_on_mcp_and_the_streaming_chat(stack, path, extra):
    def chunks():  # 2 MB without a Content-Length: the limit must count what arrives
        piece = b'{"message": "' + b"x" * 65536
        for _ in range(32):
            yield piece

    response = stack.request(
        "POST", path, token=stack.token, content=chunks(), headers={"Content-Type": "application/json", **extra}
    )
    assert response.status_code == 413, response.text[:300]


def test_a_breaker_opened_by_failures_is_honoured_by_both_web_processes(stack, fake_provider_for_stack):
    from apps.core.metrics import FAMILIES  # noqa: F401  (the breaker family is part of the contract)
    from prometheus_client.parser import text_string_to_metric_families

    created = stack.request("POST", "/api/v1/keys/", token=stack.token, json={"provider": "anthropic", "key": "sk-ant-stack-key-04"})
    assert created.status_code == 201, created.text
    assert stack.request("PUT", "/api/v1/preferences/", token=stack.token, json={"provider": "anthropic"}).status_code == 200
    try:
        for _ in range(2):  # PROVIDER_BREAKER_FAILURE_THRESHOLD failures in a row
            fake_provider_for_stack.fault("anthropic", "server_error")
            turn = stack.request("POST", "/api/v1/chat/", token=stack.token, json={"message": "hello"})
            assert turn.status_code == 200 and turn.json()["provider"] != "anthropic", turn.text
            assert turn.json()["fallback_used"], turn.text
        calls_when_open = len(fake_provider_for_stack.requests_to("anthropic"))
        assert calls_when_open == 2

        # Every turn now skips anthropic without calling it, whichever web process serves it.
        turns = _spread(stack, lambda: stack.request("POST", "/api/v1/chat/", token=stack.token, json={"message": "again"}))
        assert all(r.status_code == 200 and r.json()["provider"] != "anthropic" for _, r in turns), [r.text for _, r in turns]
        assert len({pid for pid, _ in turns if pid}) == 2, stack.tail()
        assert len(fake_provider_for_stack.requests_to("anthropic")) == calls_when_open

        text = stack.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
        breaker = [s for f in text_string_to_metric_families(text) if f.name == "todoassist_breaker_state" for s in f.samples]
        assert any(s.labels.get("provider") == "anthropic" and s.value == 2 for s in breaker), breaker
    finally:
        stack.request("PUT", "/api/v1/preferences/", token=stack.token, json={"provider": "openai"})


def test_a_rate_limit_holds_across_both_web_processes(stack):
    # Given a user allowed 10 REST writes a minute (the limiter's window is a Redis sorted set)
    limit = 10
    token = stack.new_user("stacklimited", api_writes_per_minute=limit)

    # When 2-3 times the limit arrives at once, in concurrent rounds, until both processes have served some
    def write():
        return stack.request("POST", "/api/v1/tasks/", token=token, json={"title": "one more"})

    hits: list[tuple[int | None, httpx2.Response]] = []
    with ThreadPoolExecutor(limit) as pool:
        for _ in range(3):
            responses = list(pool.map(lambda _: write(), range(limit)))
            hits = list(zip(stack.pids_of([r for _, r in hits] + responses), [r for _, r in hits] + responses))
            if len(hits) >= 2 * limit and len({pid for pid, _ in hits}) == 2:
                break

    # Then exactly the limit was admitted in total. With a counter per process, the two would have
    # admitted min(a, 10) + min(b, 10) > 10 of any a + b >= 20 spread over both.
    pids = {pid for pid, _ in hits}
    assert None not in pids and len(pids) == 2, stack.tail()
    statuses = [r.status_code for _, r in hits]
    assert statuses.count(201) == limit and statuses.count(429) == len(hits) - limit, statuses
    refused = next(r for _, r in hits if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Policy"] == f'"api-writes";q={limit};w=60'
    assert refused.json()["error"]["code"] == "rate_limited"
    listed = stack.request("GET", "/api/v1/tasks/", token=token).json()
    assert listed["count"] == limit, listed


def _titles(response: httpx2.Response) -> set[str]:
    assert response.status_code == 200, response.text[:500]
    result = response.json()["result"]
    assert result["isError"] is False, result
    return {task["title"] for task in result["structuredContent"]["tasks"]}


def test_a_task_written_through_one_web_process_is_seen_by_a_cached_read_in_the_other(stack):
    # Given list_tasks results cached (two-level cache: L1 per process, L2 in Redis) in both web processes
    token = stack.new_user("stackcache", tasks=("first",))

    def read():
        return stack.mcp_call(token, "list_tasks", {"status": "pending"})

    warm = _spread(stack, read)
    assert len({pid for pid, _ in warm if pid}) == 2, stack.tail()
    assert all(_titles(r) == {"first"} for _, r in warm)

    # The read really is cached in both: a row changed behind the cache's back (an ORM update, no
    # write service, so no data-version bump) is not seen by either process.
    stack.manage(
        "shell", "-c",
        "from apps.todos.models import Task; "
        "Task.objects.filter(owner__username='stackcache').update(title='renamed behind the cache')",
    )  # fmt: skip
    stale = _spread(stack, read)
    assert len({pid for pid, _ in stale if pid}) == 2, stack.tail()
    assert all(_titles(r) == {"first"} for _, r in stale), [sorted(_titles(r)) for _, r in stale]

    # When a task is written through the API, served by one web process
    created = stack.request("POST", "/api/v1/tasks/", token=token, json={"title": "second"})
    assert created.status_code == 201, created.text
    [writer] = stack.pids_of([created])
    assert writer is not None

    # Then the next cached read served by the other process sees it (and the row changed before it).
    deadline = time.monotonic() + 30
    while True:
        response = read()
        [reader] = stack.pids_of([response])
        if reader not in (None, writer):
            break
        assert time.monotonic() < deadline, "the other web process never answered"
    assert _titles(response) == {"renamed behind the cache", "second"}


def test_one_request_id_follows_a_chat_turn_through_its_mcp_tool_call_and_the_celery_task_it_queued(
    stack, fake_provider_for_stack
):
    # Given the assistant answers "remind me in a few seconds" with add_task and a remind_at
    from datetime import UTC, datetime, timedelta

    _validate_a_new_key(stack, "sk-stack-remind-key5", wait=False)
    chosen = stack.request("PUT", "/api/v1/preferences/", token=stack.token, json={"provider": "openai"})
    assert chosen.status_code == 200, chosen.text
    remind_at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    call = ("add_task", {"title": "stack: call mum", "remind_at": remind_at})
    fake_provider_for_stack.reply_tool_calls("openai", [call])
    fake_provider_for_stack.reply_text("openai", "I'll remind you.")

    # When the chat turn runs under one request id
    request_id = "stack-trace-" + uuid.uuid4().hex[:12]
    answer = stack.request(
        "POST", "/api/v1/chat/", token=stack.token, request_id=request_id, json={"message": "remind me"}
    )
    assert answer.status_code == 200 and answer.json()["reply"] == "I'll remind you.", answer.text
    assert not answer.json()["tool_calls"][0]["is_error"], answer.text

    # Then that id is on the web process's request line, on its MCP tool line, and on the worker's
    # lines for the on-time reminder task the tool's write queued (the id travels in the task headers).
    def lines(predicate, what):
        return stack.wait_for_log(lambda name, r: r.get("request_id") == request_id and predicate(name, r), 30, what)

    [(_, request_line)] = lines(lambda name, r: r.get("logger") == "apps.request", "the chat request")
    assert request_line["route"] == "/api/v1/chat/" and request_line["status"] == 200
    [(web, tool_line)] = lines(lambda name, r: r.get("logger") == "apps.mcp", "the chat's MCP tool call")
    assert web.startswith("web") and tool_line["tool"] == "add_task" and tool_line["outcome"] == "success"
    task_lines = lines(
        lambda name, r: name.startswith("worker") and r.get("task") == "apps.todos.tasks.reminder_deliver_task"
        and "finished" in r.get("message", ""),
        "the reminder task in the worker",
    )  # fmt: skip
    assert task_lines[0][1]["state"] == "SUCCESS" and task_lines[0][1]["pid"] != tool_line["pid"]
    # ... and the reminder was delivered (by that task, or by beat's minute sweep if it came first).
    deadline = time.monotonic() + 20
    while True:
        notes = stack.request("GET", "/api/v1/notifications/", token=stack.token).json()
        if any(n["message"] == "Reminder: stack: call mum" for n in notes["results"]):
            break
        assert time.monotonic() < deadline, notes
        time.sleep(0.5)


def test_schemathesis_against_the_stack_finds_no_server_error_and_no_schema_violation(stack, tmp_path):
    # Last in this module: the run writes freely (as a user of its own, so no other test's rows move).
    from tests.schemathesis_cli import run_schemathesis

    token = stack.new_user("stackfuzz", tasks=("seed 1", "seed 2", "seed 3"))
    run = run_schemathesis(
        stack.base_url, token, tmp_path,
        examples=os.environ.get("SCHEMATHESIS_STACK_EXAMPLES", "5"),  # per operation and phase: about a minute
        stateful_examples=os.environ.get("SCHEMATHESIS_STACK_STATEFUL_EXAMPLES", "10"),
    )  # fmt: skip
    run.assert_clean()
    # Both web processes served the run (a 500 in either would have failed the checks above).
    served = [r for name, r in stack.log_records() if name.startswith("web") and r.get("logger") == "apps.request"]
    assert len({r["pid"] for r in served if r.get("route", "").startswith("/api/")}) == 2, stack.tail()
    assert not [r for r in served if r.get("status", 0) >= 500], [r for r in served if r.get("status", 0) >= 500][:5]

"""One long-lived HTTP client per provider base URL and process, the API key per call (issue #12)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.providers.adapters import get_adapter
from apps.providers.adapters.http import SHARED_CLIENTS, HttpClientPool
from apps.providers.errors import ProviderError
from apps.providers.types import StreamDone
from tests.fakes.provider_server import ANTHROPIC, OPENAI
from tests.providers.helpers import user_request

KEY_A = "sk-user-a-1111111111aaaa"
KEY_B = "sk-user-b-2222222222bbbb"
VENDORS = [("openai", OPENAI), ("openai_compatible", OPENAI), ("anthropic", ANTHROPIC)]


def _base_url(server, route):
    return server.anthropic_base_url if route == ANTHROPIC else server.openai_base_url


@pytest.mark.parametrize(("kind", "route"), VENDORS, ids=[v[0] for v in VENDORS])
def test_two_users_concurrent_calls_through_the_shared_client_each_carry_their_own_key(fake_provider, kind, route):
    # The fake answers 401 to any request whose text names one user but carries another key.
    fake_provider.keys_by_user_text = {"I am user a": KEY_A, "I am user b": KEY_B}
    adapter = get_adapter(kind)
    base_url = _base_url(fake_provider, route)
    start = threading.Barrier(8)

    def calls(worker: int) -> list[str]:
        key, text = (KEY_A, "I am user a") if worker % 2 == 0 else (KEY_B, "I am user b")
        start.wait(timeout=10)
        answers = []
        for i in range(6):
            kwargs = {"api_key": key, "base_url": base_url, "timeout": 10.0}
            if i % 2:
                events = list(adapter.stream(user_request(text), **kwargs))
                assert isinstance(events[-1], StreamDone)
                answers.append(events[-1].reply.text)
            else:
                answers.append(adapter.complete(user_request(text), **kwargs).text)
        return answers

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(calls, range(8)))

    for worker, answers in enumerate(results):
        assert answers == [f"echo: I am user {'a' if worker % 2 == 0 else 'b'}"] * 6
    requests = fake_provider.requests_to(route)
    assert len(requests) == 48
    for request in requests:
        body_text = str(request.body)
        assert request.api_key() == (KEY_A if "I am user a" in body_text else KEY_B)


def test_a_wrong_key_on_the_shared_client_is_still_refused(fake_provider):
    fake_provider.keys_by_user_text = {"I am user a": KEY_A}
    adapter = get_adapter("openai")
    adapter.complete(user_request("I am user a"), api_key=KEY_A, base_url=fake_provider.openai_base_url, timeout=5)
    with pytest.raises(ProviderError) as caught:
        adapter.complete(user_request("I am user a"), api_key=KEY_B, base_url=fake_provider.openai_base_url, timeout=5)
    assert caught.value.kind == "auth"
    assert KEY_B not in str(caught.value) and KEY_B not in repr(caught.value.__dict__)


def test_one_client_per_base_url_and_a_changed_base_url_gets_its_own(fake_provider):
    adapter = get_adapter("openai")
    first = fake_provider.openai_base_url
    other = first.replace("127.0.0.1", "localhost")
    for _ in range(3):
        adapter.complete(user_request("hi"), api_key=KEY_A, base_url=first, timeout=5)
    client = SHARED_CLIENTS.get(f"openai:{first}")
    assert SHARED_CLIENTS.get(f"openai:{first}") is client
    adapter.complete(user_request("hi"), api_key=KEY_A, base_url=other, timeout=5)
    assert SHARED_CLIENTS.get(f"openai:{other}") is not client
    assert fake_provider.last(OPENAI).headers["host"].startswith("localhost")
    assert len({r.peer for r in fake_provider.requests_to(OPENAI)}) == 2  # one connection per base URL


def test_the_shared_client_keeps_no_cookies_and_no_key(fake_provider):
    from tests.fakes.provider_server import Scripted

    fake_provider.enqueue(OPENAI, Scripted(text="one", headers={"Set-Cookie": "session=user-a-secret; Path=/"}))
    adapter = get_adapter("openai")
    adapter.complete(user_request("hi"), api_key=KEY_A, base_url=fake_provider.openai_base_url, timeout=5)
    adapter.complete(user_request("hi"), api_key=KEY_B, base_url=fake_provider.openai_base_url, timeout=5)
    second = fake_provider.requests_to(OPENAI)[-1]
    assert "cookie" not in second.headers
    client = SHARED_CLIENTS.get(f"openai:{fake_provider.openai_base_url}")
    assert "authorization" not in {name.lower() for name in client.headers}
    assert not list(client.cookies.jar)


def test_pool_is_bounded_and_closes_on_shutdown(settings):
    pool = HttpClientPool(max_clients=2)
    clients = [pool.get(f"openai:http://h{i}") for i in range(3)]
    assert len(pool) == 2
    assert pool.get("openai:http://h0") is not clients[0]  # forgotten, then built again
    held = pool.get("openai:http://h2")
    pool.close()
    assert held.is_closed and len(pool) == 0
    assert not pool.get("openai:http://h2").is_closed  # a closed pool builds anew on next use


def test_lifespan_shutdown_closes_the_shared_clients(db):
    import asyncio

    from config.asgi import application

    client = SHARED_CLIENTS.get("openai:http://lifespan.invalid")
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(application({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert client.is_closed

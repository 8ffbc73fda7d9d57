"""Pytest fixtures for the fake provider server (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.provider_server import FakeProviderServer


@pytest.fixture(scope="session")
def _fake_provider_session() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def fake_provider(_fake_provider_session: FakeProviderServer) -> Iterator[FakeProviderServer]:
    """A running fake OpenAI/Anthropic server, emptied of scripts and records for each test."""
    _fake_provider_session.reset()
    yield _fake_provider_session
    _fake_provider_session.reset()


__all__ = ["fake_provider", "_fake_provider_session"]

import pytest

from tests.chat.conftest import keyed_user  # noqa: F401 - the chat tests' fixture, reused here
from tests.mcp_tools.conftest import live_server_url  # noqa: F401 - /mcp served by uvicorn for the session
from tests.web.conftest import page_a  # noqa: F401


@pytest.fixture(autouse=True)
def _no_answer_cache(settings):
    """Limits and quotas count calls sent; identical test prompts must not be answered from the cache."""
    settings.ANSWER_CACHE_ENABLED = False

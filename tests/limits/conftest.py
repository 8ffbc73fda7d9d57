from tests.chat.conftest import keyed_user  # noqa: F401 - the chat tests' fixture, reused here

"""OpenAI-compatible servers (Ollama, vLLM, OpenRouter, LM Studio): OpenAI's wire format at a given base URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import openai

from apps.providers.adapters.openai import OpenAIAdapter
from apps.providers.errors import ProviderError
from apps.providers.types import CompletionRequest, StreamEvent

# Local servers often need no key, but the SDK refuses to run without one.
PLACEHOLDER_API_KEY = "not-needed"


class OpenAICompatibleAdapter(OpenAIAdapter):
    kind: ClassVar[str] = "openai_compatible"
    provider_label: ClassVar[str] = "openai_compatible"
    requires_api_key: ClassVar[bool] = False
    requires_base_url: ClassVar[bool] = True
    # Most compatible servers know max_tokens; fewer know max_completion_tokens.
    max_tokens_param: ClassVar[str] = "max_tokens"

    def _client(self, *, api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
        if not base_url:
            raise ProviderError(
                "bad_request", provider=self.provider_label, detail="a base URL is required for this provider"
            )
        return super()._client(api_key=api_key or PLACEHOLDER_API_KEY, base_url=base_url, timeout=timeout)

    def stream(
        self, request: CompletionRequest, *, api_key: str, base_url: str = "", timeout: float = 60.0
    ) -> Iterator[StreamEvent]:
        # Fail before the generator starts, so a missing URL is raised at call time.
        if not base_url:
            self._client(api_key=api_key, base_url=base_url, timeout=timeout)
        return super().stream(request, api_key=api_key, base_url=base_url, timeout=timeout)

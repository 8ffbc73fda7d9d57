"""Adapter registry: provider kind -> dotted path, imported only when first used."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from apps.providers.adapters.base import ProviderAdapter

ADAPTERS: dict[str, str] = {
    "openai": "apps.providers.adapters.openai.OpenAIAdapter",
    "anthropic": "apps.providers.adapters.anthropic.AnthropicAdapter",
    "openai_compatible": "apps.providers.adapters.openai_compatible.OpenAICompatibleAdapter",
    "offline": "apps.providers.adapters.offline.OfflineAdapter",
}


@cache
def _adapter_class(kind: str) -> type[ProviderAdapter]:
    module_path, _, class_name = ADAPTERS[kind].rpartition(".")
    return getattr(import_module(module_path), class_name)


def get_adapter(kind: str) -> ProviderAdapter:
    """A fresh adapter for ``kind``; KeyError names the known kinds if it is not one."""
    if kind not in ADAPTERS:
        raise KeyError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}")
    return _adapter_class(kind)()


def warm_adapters() -> None:
    """Import every adapter (and so its SDK) now: a server calls this at start-up, so the first
    chat turn in a process does not spend its deadline importing the anthropic SDK (~0.7 s)."""
    for kind in ADAPTERS:
        _adapter_class(kind)


__all__ = ["ADAPTERS", "ProviderAdapter", "get_adapter", "warm_adapters"]

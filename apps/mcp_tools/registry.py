"""The registration hook: any app contributes MCP tools by decorating functions with @mcp_tool.

Put the decorated functions in ``<app>/mcp_tools.py``; the module is imported (like ``admin.py``)
when the MCP server is built, so no change to ``apps.mcp_tools`` is needed. A tool is a plain,
synchronous function: its parameters (with ``typing.Annotated`` constraints) become the input
schema, its docstring the description, its return type (a Pydantic model) the output schema.
It reads the caller with ``apps.mcp_tools.context.current_user()``, calls one service or
selector, and lets ``ApplicationError`` propagate (it becomes a tool error).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules

from apps.mcp_tools.models import TOOL_NAME_MAX_LENGTH

HOOK_MODULE = "mcp_tools"
_NAME_RE = re.compile(rf"^[a-z][a-z0-9_]{{0,{TOOL_NAME_MAX_LENGTH - 1}}}$")


@dataclass(frozen=True)
class ToolSpec:
    """A tool as defined in code: the function plus the hints MCP clients see."""

    name: str
    fn: Callable[..., Any]
    title: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    app_label: str

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""


_specs: dict[str, ToolSpec] = {}
_discovered = False
_lock = threading.Lock()


def mcp_tool(
    *,
    title: str,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as an MCP tool (the function itself is returned unchanged)."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        tool_name = name or fn.__name__
        if not _NAME_RE.match(tool_name):
            raise ImproperlyConfigured(f"MCP tool name {tool_name!r} must match {_NAME_RE.pattern}")
        if not inspect.getdoc(fn):
            raise ImproperlyConfigured(f"MCP tool {tool_name!r} needs a docstring: it is the tool's description")
        if inspect.iscoroutinefunction(fn):
            raise ImproperlyConfigured(f"MCP tool {tool_name!r} must be a plain function (it runs in a worker thread)")
        app_config = django_apps.get_containing_app_config(fn.__module__)
        spec = ToolSpec(
            name=tool_name,
            fn=fn,
            title=title,
            read_only=read_only,
            # MCP defines destructive/idempotent only for tools that write.
            destructive=destructive and not read_only,
            idempotent=idempotent or read_only,
            open_world=open_world,
            app_label=app_config.label if app_config else "",
        )
        existing = _specs.get(tool_name)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ImproperlyConfigured(f"MCP tool {tool_name!r} is defined twice ({existing.fn.__module__}, {fn.__module__})")
        _specs[tool_name] = spec
        return fn

    return decorator


def autodiscover() -> None:
    """Import every installed app's ``mcp_tools`` module (the todo tools live in ``apps.todos``), once."""
    global _discovered
    with _lock:
        if _discovered:
            return
        autodiscover_modules(HOOK_MODULE)
        _discovered = True


def registered_tools() -> dict[str, ToolSpec]:
    """Every tool defined in code, by name, in registration order."""
    autodiscover()
    return dict(_specs)

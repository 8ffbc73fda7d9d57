"""The registration hook: any app contributes MCP tools, resources and prompts by decorating functions.

Tools: ``@mcp_tool`` in ``<app>/mcp_tools.py``. Resources (``@mcp_resource``, a fixed URI or a
``{param}`` template) and prompts (``@mcp_prompt``) go in ``<app>/mcp_resources.py``; each may
name completers for its arguments (``completions={"task_id": fn}``, ``fn(user, partial) -> list``).
All three share one registry (operators enable/disable them by name) and run like tools: in a
worker thread, for the caller bound by the server, never for a user named in an argument.

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
HOOK_MODULES = (HOOK_MODULE, "mcp_resources")
KIND_TOOL, KIND_RESOURCE, KIND_PROMPT = "tool", "resource", "prompt"
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


Completer = Callable[[Any, str], list[str]]  # (user, partial value) -> suggestions


@dataclass(frozen=True)
class ResourceSpec:
    """A resource (or a resource template when ``uri`` has ``{param}`` parts) defined in code."""

    name: str
    uri: str
    fn: Callable[..., Any]  # fn(**template params) -> a JSON-serializable value
    title: str
    app_label: str
    mime_type: str = "application/json"
    completions: tuple[tuple[str, Completer], ...] = ()

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""

    @property
    def is_template(self) -> bool:
        return "{" in self.uri

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{([a-z_]+)\}", self.uri))

    def match(self, uri: str) -> dict[str, str] | None:
        """The template parameters in ``uri``, or None when it is not this resource."""
        if not self.is_template:
            return {} if uri == self.uri else None
        pattern = "^" + re.sub(r"\\\{([a-z_]+)\\\}", r"(?P<\1>[^/?#]{1,64})", re.escape(self.uri)) + "$"
        found = re.match(pattern, uri)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class PromptArgument:
    name: str
    description: str
    required: bool = False
    max_length: int = 200


@dataclass(frozen=True)
class PromptSpec:
    name: str
    fn: Callable[..., str]  # fn(**arguments) -> the prompt text (a user message)
    title: str
    arguments: tuple[PromptArgument, ...]
    app_label: str
    completions: tuple[tuple[str, Completer], ...] = ()

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""


_specs: dict[str, ToolSpec] = {}
_resources: dict[str, ResourceSpec] = {}
_prompts: dict[str, PromptSpec] = {}
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


def _check_name(kind: str, name: str, fn: Callable[..., Any]) -> str:
    if not _NAME_RE.match(name):
        raise ImproperlyConfigured(f"MCP {kind} name {name!r} must match {_NAME_RE.pattern}")
    if not inspect.getdoc(fn):
        raise ImproperlyConfigured(f"MCP {kind} {name!r} needs a docstring: it is its description")
    for other_kind, registry in (("tool", _specs), ("resource", _resources), ("prompt", _prompts)):
        existing = registry.get(name)
        if existing is not None and (other_kind != kind or existing.fn.__qualname__ != fn.__qualname__):
            raise ImproperlyConfigured(f"MCP name {name!r} is used twice (a {other_kind} and a {kind}): names are shared")
    return name


def mcp_resource(
    *, uri: str, title: str, name: str | None = None, mime_type: str = "application/json", completions=None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as an MCP resource (or a template, for a URI with ``{param}``)."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        resource_name = _check_name("resource", name or fn.__name__, fn)
        app_config = django_apps.get_containing_app_config(fn.__module__)
        _resources[resource_name] = ResourceSpec(
            name=resource_name,
            uri=uri,
            fn=fn,
            title=title,
            app_label=app_config.label if app_config else "",
            mime_type=mime_type,
            completions=tuple((completions or {}).items()),
        )
        return fn

    return decorator


def mcp_prompt(
    *, title: str, arguments: tuple[PromptArgument, ...] = (), name: str | None = None, completions=None
) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register the decorated function as an MCP prompt; it returns the prompt's text."""

    def decorator(fn: Callable[..., str]) -> Callable[..., str]:
        prompt_name = _check_name("prompt", name or fn.__name__, fn)
        app_config = django_apps.get_containing_app_config(fn.__module__)
        _prompts[prompt_name] = PromptSpec(
            name=prompt_name,
            fn=fn,
            title=title,
            arguments=tuple(arguments),
            app_label=app_config.label if app_config else "",
            completions=tuple((completions or {}).items()),
        )
        return fn

    return decorator


def autodiscover() -> None:
    """Import every installed app's ``mcp_tools`` module (the todo tools live in ``apps.todos``), once."""
    global _discovered
    with _lock:
        if _discovered:
            return
        autodiscover_modules(*HOOK_MODULES)
        _discovered = True


def registered_tools() -> dict[str, ToolSpec]:
    """Every tool defined in code, by name, in registration order."""
    autodiscover()
    return dict(_specs)


def registered_resources() -> dict[str, ResourceSpec]:
    """Every resource and resource template defined in code, by registry name."""
    autodiscover()
    return dict(_resources)


def registered_prompts() -> dict[str, PromptSpec]:
    autodiscover()
    return dict(_prompts)


def registered_kinds() -> dict[str, tuple[str, Any]]:
    """Every registry entry: name -> (kind, spec)."""
    entries: dict[str, tuple[str, Any]] = {name: (KIND_TOOL, spec) for name, spec in registered_tools().items()}
    entries.update({name: (KIND_RESOURCE, spec) for name, spec in registered_resources().items()})
    entries.update({name: (KIND_PROMPT, spec) for name, spec in registered_prompts().items()})
    return entries

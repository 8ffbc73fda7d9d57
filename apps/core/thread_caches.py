"""A long-lived thread's cache backends, kept from one unit of work to the next as a WSGI thread keeps them.

Django keeps cache backends per context (an asgiref Local), and sync code reached from the event
loop (a request on one of the ASGI handler's lanes, an MCP call on a worker thread) runs in a
fresh copy of its caller's context: so every request built its own backend object (a RedisCache,
its client, the client's event dispatcher and listeners; the connection pool is shared either
way), which cost time and left a cycle of garbage behind each request. Kept per thread, with the
handler's storage they were made in: when that is replaced (override_settings(CACHES=...)),
they are dropped.
"""

from __future__ import annotations

import threading

from django.core.cache import caches

_kept = threading.local()


def adopt_thread_caches() -> None:
    """Give this context the backends this thread kept last time (none yet: they are built as usual)."""
    kept = getattr(_kept, "backends", None)
    if kept is None or kept[0] is not caches._connections:
        return
    for alias, backend in kept[1].items():
        setattr(caches._connections, alias, backend)


def keep_thread_caches() -> None:
    """Keep this context's backends for the thread's next unit of work."""
    storage = caches._connections
    backends = {alias: getattr(storage, alias) for alias in caches.settings if hasattr(storage, alias)}
    _kept.backends = (storage, backends)

"""Django's PostgreSQL backend, failing fast while this process knows the database does not answer.

With PostgreSQL black-holed (a host that accepts connections but never answers), every new
connection waits out ``connect_timeout`` (DATABASE_CONNECT_TIMEOUT_SECONDS), and one request
tries to connect several times: token authentication, then the view, then the session, each
after the last one failed. A REST call took 30 s and answered 500. Here a connection that timed
out (or a pool that handed none out in time) puts ``database_outage`` down for
DATABASE_RETRY_AFTER_SECONDS; new connections in that window fail at once, without touching the
network, and the first one after it probes the database again. Any failure to connect is raised
as ``DatabaseUnavailable`` (a Django ``OperationalError``), which the API, the pages and /mcp
answer with a 503 and Retry-After (apps.core.exception_handler, apps.core.middleware,
apps.mcp_tools). A refused connection fails quickly anyway: it is reported, not failed fast.

A connection that is already open gets no help from ``connect_timeout``: when the database stops
answering mid-use (a hung server, a network that drops everything), a query on it waited until the
database came back, or until the kernel gave up (some 15 minutes), holding its request and thread.
Every wait on a connection here is bounded by DATABASE_QUERY_TIMEOUT_SECONDS: past it the
connection (its state unknown) is closed and the wait raises ``DatabaseUnavailable``, as a
connect timeout does. A connection the database drops mid-use (a restart, a failover, a killed
backend) raised the driver's error, a 500 for that request; it is ``DatabaseUnavailable`` too.
"""

from __future__ import annotations

import contextlib
import contextvars

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

from apps.core.outage import DatabaseUnavailable, database_outage

try:  # psycopg_pool is installed with the pool option (DATABASE_POOL_MAX_SIZE)
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover - the pool is optional
    PoolTimeout = psycopg.errors.ConnectionTimeout

_TIMEOUTS = (psycopg.errors.ConnectionTimeout, PoolTimeout)


_unbounded: contextvars.ContextVar[bool] = contextvars.ContextVar("unbounded_queries", default=False)


@contextlib.contextmanager
def unbounded_queries():
    """No query timeout inside (``manage.py migrate``: a migration may rightly run for minutes)."""
    token = _unbounded.set(True)
    try:
        yield
    finally:
        _unbounded.reset(token)


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server (query, fetch, commit) has a deadline.

    ``Connection.wait`` and its ``timeout`` (raising ``errors._WaitTimeout``) are psycopg's own,
    documented in its source; psycopg is pinned in requirements/base.txt.
    """

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is None and (limit := settings.DATABASE_QUERY_TIMEOUT_SECONDS) > 0 and not _unbounded.get():
            timeout = limit
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except psycopg.errors._WaitTimeout as exc:
            self.pgconn.finish()  # mid-query: nothing more can be sent on it
            database_outage.failed(exc)
            raise DatabaseUnavailable("no answer within the query timeout") from None


class OutageAwareErrorWrapper(DatabaseErrorWrapper):
    """Django's mapping of driver errors, except that losing the connection is ``DatabaseUnavailable``.

    The server's "terminating connection" or a closed socket leaves the connection closed: nothing
    in the request can be done on it, and a new one may not be had for seconds. It is an outage
    (503, Retry-After, logged once per interval), not a bug in the request (500, a traceback each).
    """

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None and issubclass(exc_type, psycopg.OperationalError):
            raw = self.wrapper.connection
            if raw is not None and raw.closed:
                self.wrapper.errors_occurred = True  # Django drops it at the end of the request
                database_outage.failed(exc_value, fail_fast=False)  # a refused reconnect fails fast anyway
                raise DatabaseUnavailable("the connection was lost") from exc_value
        return super().__exit__(exc_type, exc_value, traceback)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict, *args, **kwargs):
        pool = settings_dict.get("OPTIONS", {}).get("pool")
        if pool:  # the pool makes its connections itself
            options = pool if isinstance(pool, dict) else {}
            settings_dict["OPTIONS"]["pool"] = {**options, "connection_class": BoundedConnection}
        super().__init__(settings_dict, *args, **kwargs)

    @cached_property
    def wrap_database_errors(self):
        return OutageAwareErrorWrapper(self)

    def get_new_connection(self, conn_params):
        if database_outage.is_down():
            raise DatabaseUnavailable("failing fast after a recent failure")
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError as exc:
            database_outage.failed(exc, fail_fast=isinstance(exc, _TIMEOUTS))
            raise DatabaseUnavailable(type(exc).__name__) from exc
        database_outage.recovered()
        if type(connection) is psycopg.Connection:  # Django connects with psycopg.connect()
            connection.__class__ = BoundedConnection  # a subclass adding one method: the same object
        return connection

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
"""

from __future__ import annotations

import psycopg
from django.db.backends.postgresql import base

from apps.core.outage import DatabaseUnavailable, database_outage

try:  # psycopg_pool is installed with the pool option (DATABASE_POOL_MAX_SIZE)
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover - the pool is optional
    PoolTimeout = psycopg.errors.ConnectionTimeout

_TIMEOUTS = (psycopg.errors.ConnectionTimeout, PoolTimeout)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        if database_outage.is_down():
            raise DatabaseUnavailable("failing fast after a recent failure")
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError as exc:
            database_outage.failed(exc, fail_fast=isinstance(exc, _TIMEOUTS))
            raise DatabaseUnavailable(type(exc).__name__) from exc
        database_outage.recovered()
        return connection

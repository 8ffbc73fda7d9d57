"""Django's migrate, without the PostgreSQL query timeout (DATABASE_QUERY_TIMEOUT_SECONDS).

The timeout bounds a request's wait for a database that stopped answering; a migration (an
index on a big table, a data migration) may rightly run for minutes, and is watched by the
operator who started it.
"""

from __future__ import annotations

from django.core.management.commands.migrate import Command as DjangoMigrateCommand

from apps.core.postgresql.base import unbounded_queries


class Command(DjangoMigrateCommand):
    def handle(self, *args, **options):
        with unbounded_queries():
            return super().handle(*args, **options)

"""Creates the PostgreSQL database named by DATABASE_URL when it does not exist yet (make stack)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connections


class Command(BaseCommand):
    help = "Create the default PostgreSQL database if it is missing (no-op for SQLite)."

    def handle(self, *args, **options):
        connection = connections["default"]
        if connection.vendor != "postgresql":
            return
        name = connection.settings_dict["NAME"]
        import psycopg
        from psycopg import sql

        params = connection.get_connection_params()
        params["dbname"] = "postgres"
        with psycopg.connect(**params, autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.stdout.write(f"Created database {name}")

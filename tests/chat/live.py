"""The project's ASGI app under uvicorn in a subprocess, on this test's data, with its log kept.

A subprocess rather than a thread: its own interpreter runs requests truly side by side, and
its stderr is the server log a test can search (for "Exception ignored", SynchronousOnlyOperation).

The in-memory SQLite test database cannot be shared with another process (and its shared-cache
mode refuses concurrent writers with "database table is locked", which the real file-backed
embedded default never does), so on SQLite the data is copied to a file for the server and
copied back with ``sync_back()`` before the test reads it. PostgreSQL: the test database itself.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx2
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.sqlite_file: Path | None = None
        if connection.vendor == "sqlite":
            self.sqlite_file = workdir / "db.sqlite3"
            connection.ensure_connection()
            target = sqlite3.connect(self.sqlite_file)
            connection.connection.backup(target)
            target.close()
            database_url = f"sqlite:///{self.sqlite_file}"
        else:
            s = connection.settings_dict
            user = quote(s["USER"] or "", safe="")
            password = f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else ""
            credentials = f"{user}{password}@" if user else ""
            database_url = f"postgres://{credentials}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "MCP_PUBLIC_URL": self.url,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = workdir / "server.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--no-access-log"],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()}")
            try:
                httpx2.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx2.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not start within 30 s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sync_back(self) -> None:
        """Make the server's writes visible to this test's database connection (a no-op on PostgreSQL)."""
        if self.sqlite_file is None:
            return
        connection.ensure_connection()
        source = sqlite3.connect(self.sqlite_file)
        source.backup(connection.connection)
        source.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

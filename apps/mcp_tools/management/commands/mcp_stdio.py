"""Serve the MCP tools over stdio for a desktop client, acting as one user."""

import anyio
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.mcp_tools.context import CALLER_EXTERNAL, TRANSPORT_STDIO, Principal, bind_principal
from apps.mcp_tools.server import get_server, sync_registry_at_startup


class Command(BaseCommand):
    help = (
        "Serve the MCP tools over stdin/stdout (for Claude Desktop, MCP Inspector, ...) as USER. "
        "Whoever can run this command can act as that user: it is for the user's own machine."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username whose todo list the tools use")

    def handle(self, *args, user: str, **options):
        account = get_user_model().objects.filter(username=user, is_active=True).first()
        if account is None:
            raise CommandError(f"No active user named {user!r}.")
        sync_registry_at_startup()
        server = get_server()
        # stdout carries the protocol: everything else (logs) goes to stderr.
        bind_principal(Principal(user=account, caller=CALLER_EXTERNAL, transport=TRANSPORT_STDIO))
        anyio.run(server.run_stdio_async)

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class McpToolsConfig(AppConfig):
    name = "apps.mcp_tools"
    label = "mcp_tools"
    verbose_name = "MCP tools"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The registry rows follow the tools defined in code: refreshed after every migrate
        # (and again when a server starts, see apps.mcp_tools.server.get_server).
        post_migrate.connect(_sync_registry_after_migrate, sender=self)


def _sync_registry_after_migrate(sender, using="default", **kwargs) -> None:
    from apps.mcp_tools.services import tool_registry_sync

    tool_registry_sync(using=using)

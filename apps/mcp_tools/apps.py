from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class McpToolsConfig(AppConfig):
    name = "apps.mcp_tools"
    label = "mcp_tools"
    verbose_name = "MCP tools"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The registry rows follow the tools defined in code: refreshed after every migrate
        # (and again when a server starts, see apps.mcp_tools.server.get_server).
        post_migrate.connect(_sync_registry_after_migrate, sender=self)
        from apps.mcp_tools.models import ToolRegistration

        post_save.connect(_registry_changed, sender=ToolRegistration, dispatch_uid="mcp_tools.registration_saved")
        post_delete.connect(_registry_changed, sender=ToolRegistration, dispatch_uid="mcp_tools.registration_deleted")


def _sync_registry_after_migrate(sender, using="default", **kwargs) -> None:
    from apps.mcp_tools.services import tool_registry_sync

    tool_registry_sync(using=using)


def _registry_changed(sender, using=None, **kwargs) -> None:
    from apps.mcp_tools.selectors import registry_snapshot

    registry_snapshot.bump_now_and_on_commit(using=using)

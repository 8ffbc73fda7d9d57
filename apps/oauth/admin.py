from django.contrib import admin, messages
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin
from oauth2_provider.models import get_application_model

from apps.oauth.models import ClientState, Connection
from apps.oauth.services import client_block, client_unblock

Application = get_application_model()


class OAuthClientAdmin(DotApplicationAdmin):
    """Registered OAuth clients (dynamic registration and metadata documents); operators can block one."""

    list_display = ("name", "client_id_short", "client_type", "registration_source", "blocked", "created")
    actions = ["block_selected", "unblock_selected"]

    @admin.display(description="client id")
    def client_id_short(self, obj) -> str:
        return obj.client_id if len(obj.client_id) <= 60 else obj.client_id[:57] + "..."

    @admin.display(boolean=True)
    def blocked(self, obj) -> bool:
        return ClientState.objects.filter(application=obj, blocked=True).exists()

    @admin.action(description="Block the selected clients (refuse sign-in, end every token)")
    def block_selected(self, request, queryset):
        for application in queryset:
            client_block(actor=request.user, application=application)
        messages.success(request, f"Blocked {queryset.count()} client(s).")

    @admin.action(description="Unblock the selected clients")
    def unblock_selected(self, request, queryset):
        for application in queryset:
            client_unblock(actor=request.user, application=application)
        messages.success(request, f"Unblocked {queryset.count()} client(s).")


if admin.site.is_registered(Application):
    admin.site.unregister(Application)
admin.site.register(Application, OAuthClientAdmin)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("user", "application", "scope", "authorized_at", "last_used_at")
    list_select_related = ("user", "application")
    readonly_fields = ("user", "application", "scope", "created_at", "authorized_at", "last_used_at")
    search_fields = ("user__username", "application__name", "application__client_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

from django.contrib import admin, messages
from django.db import transaction

from apps.keys.models import AccessToken
from apps.keys.services import access_token_revoke


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    """Tokens are listed by prefix only; the hash is not shown and the secret is never stored."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "key_id")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        # Creating here would have no way to show the secret once; use `create_access_token`.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        with transaction.atomic():
            for token in queryset.select_related("user"):
                access_token_revoke(user=token.user, token_id=token.pk, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)

from django.contrib import admin

from apps.chat.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("role", "content", "tool_name", "is_error", "provider", "model", "input_tokens", "output_tokens")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "created_at", "updated_at")
    search_fields = ("title", "owner__username")
    readonly_fields = ("owner", "title", "created_at", "updated_at")
    inlines = [MessageInline]

    def has_add_permission(self, request):
        return False

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from apps.core.admin_display import WrappingListMixin, shortened
from apps.core.errors import ApplicationError
from apps.keys.models import AccessToken, OperatorKey, ProviderKey
from apps.keys.services import access_token_delete, access_token_revoke, access_tokens_delete
from apps.keys.vault import operator_key_create, provider_keys_revoke


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

    # Deleting stays possible (deleting a user takes their tokens with it), but it is audited
    # like a revoke, with the prefix only: the single delete page and the bulk action alike.
    def delete_model(self, request, obj):
        access_token_delete(token=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        access_tokens_delete(queryset=queryset, actor=request.user)

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        with transaction.atomic():
            for token in queryset.select_related("user"):
                access_token_revoke(user=token.user, token_id=token.pk, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


@admin.register(ProviderKey)
class ProviderKeyAdmin(WrappingListMixin, admin.ModelAdmin):
    """Keys are shown masked (last 4 only); neither plaintext nor ciphertext is on any page."""

    list_display = ("short_name", "owner", "provider", "short_label", "masked", "status", "last_used_at", "master_key_id")
    list_filter = ("status", "provider", "master_key_id")
    search_fields = ("owner__username", "label", "last4")
    fields = (
        "owner",
        "provider",
        "label",
        "masked",
        "status",
        "status_detail",
        "master_key_id",
        "expires_at",
        "last_used_at",
        "last_validated_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    def get_queryset(self, request):
        # Never load the ciphertext column for admin pages.
        return super().get_queryset(request).defer("ciphertext").select_related("owner", "provider")

    @admin.display(description="key")
    def masked(self, obj):
        return obj.masked

    @admin.display(description="provider key", ordering="-created_at")
    def short_name(self, obj):
        return shortened(str(obj))

    @admin.display(description="label", ordering="label")
    def short_label(self, obj):
        return shortened(obj.label)

    def has_add_permission(self, request):
        return False  # users add their own keys; an operator never handles a plaintext key

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays for the audit trail

    @admin.action(description="Revoke selected keys (wipes the ciphertext)")
    def revoke_selected(self, request, queryset):
        count = provider_keys_revoke(queryset=queryset, actor=request.user, reason=f"revoked by operator {request.user}")
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


class OperatorKeyForm(forms.ModelForm):
    """Write-only: the key is a password input that is never filled back; only its last 4 are ever shown."""

    key = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        strip=True, max_length=500, help_text="Sealed with the vault at once; never shown again (last 4 only).",
    )

    class Meta:
        model = OperatorKey
        fields = ("provider", "label", "expires_at")


@admin.register(OperatorKey)
class OperatorKeyAdmin(WrappingListMixin, admin.ModelAdmin):
    """Keys the operator provides (no owner). Added here, never edited (add a new one and revoke the old)."""

    list_display = ("provider", "short_label", "masked", "status", "last_used_at", "created_at")
    list_filter = ("status", "provider")
    readonly_fields = ("provider", "label", "masked", "status", "status_detail", "master_key_id", "expires_at",
                       "last_used_at", "created_at")
    actions = ["revoke_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(owner__isnull=True).defer("ciphertext").select_related("provider")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = OperatorKeyForm
            kwargs["fields"] = ("provider", "label", "key", "expires_at")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("provider", "label", "key", "expires_at")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "provider":
            from apps.keys.selectors import provider_model

            kwargs["queryset"] = provider_model().objects.exclude(kind="offline")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            record = operator_key_create(
                actor=request.user, provider_name=form.cleaned_data["provider"].name, key=form.cleaned_data["key"],
                label=form.cleaned_data.get("label") or "", expires_at=form.cleaned_data.get("expires_at"),
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            raise forms.ValidationError(exc.message) from None
        obj.pk = record.pk  # the admin's redirect and message use the stored row
        obj.__dict__.update({k: v for k, v in record.__dict__.items() if not k.startswith("_")})

    @admin.display(description="key")
    def masked(self, obj):
        return obj.masked

    @admin.display(description="label", ordering="label")
    def short_label(self, obj):
        return shortened(obj.label)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # view only once stored

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead

    @admin.action(description="Revoke selected operator keys (wipes the ciphertext)")
    def revoke_selected(self, request, queryset):
        count = provider_keys_revoke(queryset=queryset, actor=request.user, reason=f"revoked by operator {request.user}")
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

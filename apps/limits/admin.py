from django.contrib import admin
from django.core.exceptions import ValidationError
from django import forms

from apps.limits.models import UsageRollup, UserPolicy


class UserPolicyForm(forms.ModelForm):
    class Meta:
        model = UserPolicy
        fields = ["user", "tokens_per_month", "cost_per_month", "mcp_calls_per_minute", "api_writes_per_minute"]

    def clean_user(self):
        user = self.cleaned_data.get("user")
        if user is None and UserPolicy.objects.filter(user__isnull=True).exclude(pk=self.instance.pk).exists():
            raise ValidationError("There is a default policy already (the row without a user); edit that one.")
        return user


@admin.register(UserPolicy)
class UserPolicyAdmin(admin.ModelAdmin):
    form = UserPolicyForm
    list_display = ["__str__", "tokens_per_month", "cost_per_month", "mcp_calls_per_minute", "api_writes_per_minute",
                    "updated_at"]
    raw_id_fields = ["user"]
    search_fields = ["user__username"]


@admin.register(UsageRollup)
class UsageRollupAdmin(admin.ModelAdmin):
    list_display = ["day", "user", "provider", "calls", "input_tokens", "output_tokens", "cost"]
    list_filter = ["provider"]
    date_hierarchy = "day"
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

"""Page forms: they parse and render input; the rules live in the services they feed."""

from __future__ import annotations

from django import forms

from apps.core.errors import ApplicationError
from apps.providers.health import health_label


class ProviderKeyForm(forms.Form):
    provider = forms.ChoiceField(label="Provider")
    label = forms.CharField(label="Label (optional)", required=False, strip=False)
    # render_value=False: a submitted key is never written back into the page, not even on an error.
    key = forms.CharField(
        label="API key",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, providers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "Choose a provider…")] + [(p.name, str(p)) for p in providers]


class ChatMessageForm(forms.Form):
    # The service checks the text (blank, length, null bytes); required only spares an empty round trip.
    message = forms.CharField(label="Message", strip=False, widget=forms.Textarea(attrs={"rows": 2}))
    conversation_id = forms.CharField(required=False, widget=forms.HiddenInput)


class ProviderChoiceForm(forms.Form):
    """One select of provider + model pairs, grouped by provider (values are ``provider:model``)."""

    choice = forms.ChoiceField(label="Provider and model")

    def __init__(self, *args, providers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._names = {p["name"]: p["display_name"] for p in providers}
        groups = []
        for p in providers:
            suffix = "" if p["has_usable_key"] else " (no key: add one under Keys)"
            if p.get("health") and p["kind"] != "offline":
                suffix += f" — {health_label(p['health'])}"
            models = p["models"] or [p["default_model"]]
            groups.append((p["display_name"] + suffix, [(f"{p['name']}:{m}", f"{p['display_name']} · {m}") for m in models]))
        self.fields["choice"].choices = groups

    def clean_choice(self):
        provider, _, model = self.cleaned_data["choice"].partition(":")
        return provider, model

    def display(self, provider: str, model: str) -> str:
        return f"{self._names.get(provider, provider)} · {model}"


def add_application_error(form: forms.Form, exc: ApplicationError, aliases: dict[str, str] | None = None) -> None:
    """Show a service error next to the fields its ``extra["fields"]`` names, else above the form.

    ``aliases`` maps a service's field name to the form field that stands for it.
    """
    fields = exc.extra.get("fields") if isinstance(exc.extra, dict) else None
    placed = False
    if isinstance(fields, dict):
        for name, messages in fields.items():
            name = (aliases or {}).get(name, name)
            if name in form.fields:
                for message in messages if isinstance(messages, list | tuple) else [messages]:
                    form.add_error(name, str(message))
                placed = True
    if not placed:
        form.add_error(None, exc.message)

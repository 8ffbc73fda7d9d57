"""Page forms: they parse and render input; the rules live in the services they feed."""

from __future__ import annotations

from django import forms

from apps.core.errors import ApplicationError


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


def add_application_error(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service error next to the fields its ``extra["fields"]`` names, else above the form."""
    fields = exc.extra.get("fields") if isinstance(exc.extra, dict) else None
    placed = False
    if isinstance(fields, dict):
        for name, messages in fields.items():
            if name in form.fields:
                for message in messages if isinstance(messages, list | tuple) else [messages]:
                    form.add_error(name, str(message))
                placed = True
    if not placed:
        form.add_error(None, exc.message)

"""The registry: one row per MCP tool, resource or prompt defined in code, managed by operators in the admin."""

from django.db import models

TOOL_NAME_MAX_LENGTH = 64


class ToolRegistration(models.Model):
    """Operator settings for one tool. Rows are created from code; the code owns name and schema."""

    class Kind(models.TextChoices):
        TOOL = "tool", "Tool"
        RESOURCE = "resource", "Resource"
        PROMPT = "prompt", "Prompt"

    name = models.CharField(max_length=TOOL_NAME_MAX_LENGTH, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TOOL)
    app_label = models.CharField(max_length=100, blank=True, help_text="The app whose code defines the tool.")
    default_description = models.TextField(blank=True, help_text="The description written in code (its docstring).")
    enabled = models.BooleanField(default=True, help_text="Disabled entries are absent from their list (tools, resources, prompts) and refused.")
    description_override = models.TextField(
        blank=True, help_text="Shown to clients instead of the description from code, when not blank."
    )
    notes = models.TextField(blank=True, help_text="For operators only; never shown to clients.")
    available = models.BooleanField(default=True, help_text="False when the code no longer defines this tool.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        return self.description_override.strip() or self.default_description

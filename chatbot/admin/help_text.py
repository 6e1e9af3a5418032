"""Help text in the admin for fields whose model gives none."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class HelpTextMixin:
    """Help text for model fields that have none in their model (owned elsewhere)."""

    help_texts: dict[str, str] = {}

    def formfield_for_dbfield(
        self, db_field: Any, request: HttpRequest, **kw: Any
    ) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kw)  # type: ignore[misc]
        if field is not None and not field.help_text:
            field.help_text = self.help_texts.get(db_field.name, "")
        return field

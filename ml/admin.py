from __future__ import annotations

from django.contrib import admin

from ml.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["kind", "version", "status", "created", "activated"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]

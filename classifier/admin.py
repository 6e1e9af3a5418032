from __future__ import annotations

from django.contrib import admin

from classifier.models import Intent, TrainingExample


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name", "description"]


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    list_display = ["text", "intent", "source", "added_by", "created"]
    list_filter = ["source", "intent"]
    search_fields = ["text"]
    autocomplete_fields = ["intent"]

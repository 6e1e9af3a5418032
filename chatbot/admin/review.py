"""Staff admin for the bot's messages, and for correcting what it understood.

Corrections become training examples (the rules are in ``chatbot.review``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from chatbot import review
from chatbot.admin.filters import IntentFilter, LowConfidenceFilter, YesNoFilter
from chatbot.models import Message

REVIEW_PAGE_SIZE = 25


class ReviewedFilter(YesNoFilter):
    title = "reviewed"
    parameter_name = "reviewed"
    answers = [("no", "Not yet"), ("yes", "Reviewed")]

    def condition(self, queryset: QuerySet[Any]) -> tuple[QuerySet[Any], Q]:
        # "reviewed" is annotated by review.predictions().
        return review.predictions(queryset), Q(reviewed=True)


class CorrectIntentForm(forms.Form):
    intent = forms.ChoiceField(
        label="What the customer meant",
        help_text="Stored as a training example; the next training run learns it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["intent"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = review.intent_choices()


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "conversation",
        "sender",
        "intent",
        "confidence",
        "created",
    ]
    list_filter = [
        "sender",
        IntentFilter,
        LowConfidenceFilter,
        ReviewedFilter,
        "created",
    ]
    list_select_related = ["conversation"]
    search_fields = ["text", "conversation__public_id", "conversation__customer__email"]
    readonly_fields = [
        "conversation",
        "seq",
        "sender",
        "text",
        "payload",
        "client_msg_id",
        "intent",
        "confidence",
        "model_version",
        "agent",
        "created",
    ]
    date_hierarchy = "created"
    change_form_template = "admin/chatbot/message/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages come from the chat, never from the admin

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "review/",
                self.admin_site.admin_view(self.review_view),
                name="chatbot_message_review",
            ),
            path(
                "<int:pk>/correct/",
                self.admin_site.admin_view(self.correct_view),
                name="chatbot_message_correct",
            ),
            *super().get_urls(),
        ]

    def _may_review(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(
            "classifier.add_trainingexample"
        )

    def correct_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Correct the intent of one bot message (a form on its own page)."""
        if not self._may_review(request):
            return HttpResponse("You may not add training examples.", status=403)
        message = get_object_or_404(Message, pk=pk, sender=Message.Sender.BOT)
        form = CorrectIntentForm(
            request.POST or None,
            initial={"intent": message.intent or "oos"},
        )
        if request.method == "POST" and form.is_valid():
            try:
                example = review.message_review(
                    message=message,
                    intent_name=form.cleaned_data["intent"],
                    reviewer=request.user,
                )
            except review.ReviewError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Saved “{example.text[:60]}” as {example.label}.",
                    messages.SUCCESS,
                )
                queue_url = reverse("admin:chatbot_message_review")
                back = reverse("admin:chatbot_message_change", args=[message.pk])
                # Only ever back to the queue: "next" must not redirect off-site.
                came_from_queue = request.POST.get("next") == queue_url
                return HttpResponseRedirect(queue_url if came_from_queue else back)
        context = {
            **self.admin_site.each_context(request),
            "title": "Correct the intent",
            "opts": self.model._meta,
            "message": message,
            "source": review.source_message(message),
            "form": form,
        }
        return TemplateResponse(request, "admin/chatbot/message/correct.html", context)

    def review_view(self, request: HttpRequest) -> HttpResponse:
        """The bot's least sure predictions nobody reviewed yet, to label in a row."""
        if not self._may_review(request):
            return HttpResponse("You may not add training examples.", status=403)
        queue = review.review_queue()
        items = [
            {"message": m, "source": review.source_message(m)}
            for m in queue[:REVIEW_PAGE_SIZE]
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Review queue: the bot's least sure answers",
            "opts": self.model._meta,
            "items": items,
            "remaining": queue.count(),
            "choices": review.intent_choices(),
        }
        return TemplateResponse(request, "admin/chatbot/message/review.html", context)

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
from django.utils.http import url_has_allowed_host_and_scheme

from chatbot import review
from chatbot.admin.filters import IntentFilter, LowConfidenceFilter, YesNoFilter
from chatbot.models import Message
from classifier.models import TrainingExample

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
        "uncertainty",
        "ranking",
        "form_value",
        "model_version",
        "recommender_version",
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
            path(
                "examples/<int:pk>/relabel/",
                self.admin_site.admin_view(self.relabel_view),
                name="chatbot_message_relabel_example",
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
        source = review.source_message(message)
        context = {
            **self.admin_site.each_context(request),
            "title": "Correct the intent",
            "opts": self.model._meta,
            "message": message,
            "source": source,
            "form": form,
            "readings": review.explanation(message, source=source),
            "choices": review.intent_choices(),
            "here": request.path,
        }
        return TemplateResponse(request, "admin/chatbot/message/correct.html", context)

    def review_view(self, request: HttpRequest) -> HttpResponse:
        """The bot's least sure predictions nobody reviewed yet, to label in a row."""
        if not self._may_review(request):
            return HttpResponse("You may not add training examples.", status=403)
        queue = review.review_queue()
        items = []
        for m in queue[:REVIEW_PAGE_SIZE]:
            source = review.source_message(m)
            readings = review.explanation(m, source=source)
            items.append({"message": m, "source": source, "readings": readings})
        context = {
            **self.admin_site.each_context(request),
            "title": "Review queue: the bot's least sure answers",
            "opts": self.model._meta,
            "items": items,
            "remaining": queue.count(),
            "choices": review.intent_choices(),
            "queue_url": reverse("admin:chatbot_message_review"),
        }
        return TemplateResponse(request, "admin/chatbot/message/review.html", context)

    def relabel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Fix the label of a training example shown beside a bot message (POST)."""
        # The review permission: the example becomes the reviewer's own review
        # example (their caps apply; the old label is kept in original_intent).
        if not self._may_review(request):
            return HttpResponse("You may not add training examples.", status=403)
        if request.method != "POST":
            return HttpResponse("Relabel with a POST.", status=405)
        example = get_object_or_404(TrainingExample, pk=pk)
        old = example.label
        try:
            fixed = review.example_relabel(
                example=example,
                intent_name=request.POST.get("intent", ""),
                reviewer=request.user,
            )
        except review.ReviewError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(
                request,
                f"“{fixed.text[:60]}” is now {fixed.label} (was {old}).",
                messages.SUCCESS,
            )
        back = request.POST.get("next", "")
        # Only back to a page of this admin: "next" must not redirect off-site.
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts=None
        ) or not back.startswith(reverse("admin:chatbot_message_changelist")):
            back = reverse("admin:chatbot_message_review")
        return HttpResponseRedirect(back)

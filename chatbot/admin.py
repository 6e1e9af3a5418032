"""Staff admin for the chat: transcripts, review of the bot, the shop's content."""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from chatbot import review
from chatbot.analytics import LOW_CONFIDENCE
from chatbot.models import (
    AgentPresence,
    Article,
    CannedResponse,
    Conversation,
    ConversationNote,
    Customer,
    Message,
    Order,
    OrderItem,
    ResponseTemplate,
    ReturnRequest,
)

REVIEW_PAGE_SIZE = 25


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


# --- conversations ----------------------------------------------------------------


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("seq", "sender", "text", "intent", "confidence", "agent", "created")
    readonly_fields = fields
    ordering = ["seq"]
    verbose_name = "message"
    verbose_name_plural = "transcript"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NoteInline(admin.TabularInline):
    model = ConversationNote
    extra = 0
    fields = ("text", "author", "created")
    readonly_fields = ("author", "created")
    verbose_name_plural = "internal notes (never shown to the customer)"


class IntentFilter(admin.SimpleListFilter):
    title = "intent"
    parameter_name = "intent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            Message.objects.filter(sender=Message.Sender.BOT)
            .exclude(intent="")
            .order_by("intent")
            .values_list("intent", flat=True)
            .distinct()
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        if queryset.model is Message:
            return queryset.filter(intent=self.value())
        matching = Message.objects.filter(
            conversation=OuterRef("pk"), sender=Message.Sender.BOT, intent=self.value()
        )
        return queryset.filter(Exists(matching))


class LowConfidenceFilter(admin.SimpleListFilter):
    title = "bot confidence"
    parameter_name = "confidence"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("low", f"Below {LOW_CONFIDENCE:g}")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "low":
            return queryset
        if queryset.model is Message:
            return queryset.filter(
                sender=Message.Sender.BOT, confidence__lt=LOW_CONFIDENCE
            )
        unsure = Message.objects.filter(
            conversation=OuterRef("pk"),
            sender=Message.Sender.BOT,
            confidence__lt=LOW_CONFIDENCE,
        )
        return queryset.filter(Exists(unsure))


class HandedOverFilter(admin.SimpleListFilter):
    title = "handed over"
    parameter_name = "handed_over"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "To a person"), ("no", "Bot only")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        person = Q(handed_over_at__isnull=False) | Q(waiting_since__isnull=False)
        if self.value() == "yes":
            return queryset.filter(person)
        if self.value() == "no":
            return queryset.exclude(person)
        return queryset


CSV_COLUMNS = [
    "conversation",
    "customer",
    "email",
    "status",
    "agent",
    "created",
    "handed_over_at",
    "resolved_at",
    "csat_score",
    "seq",
    "sender",
    "text",
    "intent",
    "confidence",
    "message_created",
]


@admin.register(Conversation)
class ConversationAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {
        "status": "Use the console to take over or resolve: it also tells the "
        "customer and the other agents.",
        "assigned_agent": "The support agent who has the conversation.",
    }
    list_display = [
        "public_id",
        "customer",
        "status",
        "assigned_agent",
        "message_count",
        "created",
        "handed_over_at",
        "csat_score",
    ]
    list_filter = [
        "status",
        IntentFilter,
        LowConfidenceFilter,
        HandedOverFilter,
        "csat_score",
        "created",
    ]
    list_select_related = ["customer", "assigned_agent"]
    search_fields = [
        "public_id",
        "customer__email",
        "customer__name",
        "messages__text",
        "returnrequest__order__number",
    ]
    search_help_text = "Message text, customer email or name, order number."
    date_hierarchy = "created"
    readonly_fields = [
        "public_id",
        "customer",
        "last_seq",
        "created",
        "updated",
        "waiting_since",
        "handed_over_at",
        "resolved_at",
        "csat_score",
        "csat_comment",
        "state",
    ]
    fieldsets = [
        (None, {"fields": ["public_id", "customer", "status", "assigned_agent"]}),
        (
            "Timeline",
            {"fields": ["created", "waiting_since", "handed_over_at", "resolved_at"]},
        ),
        ("Customer rating", {"fields": ["csat_score", "csat_comment"]}),
        (
            "Bot state",
            {"classes": ["collapse"], "fields": ["state", "last_seq", "updated"]},
        ),
    ]
    inlines = [MessageInline, NoteInline]
    actions = ["export_csv"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(n_messages=Count("messages"))

    @admin.display(description="messages", ordering="n_messages")
    def message_count(self, obj: Any) -> int:
        return int(obj.n_messages)

    @admin.action(description="Export the selected transcripts as CSV")
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponse:
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="transcripts.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        rows = (
            Message.objects.filter(conversation__in=queryset.values("pk"))
            .select_related(
                "conversation", "conversation__customer", "conversation__assigned_agent"
            )
            .order_by("conversation__created", "conversation_id", "seq")
        )
        for m in rows:
            c = m.conversation
            writer.writerow(
                [
                    c.public_id,
                    str(c.customer),
                    c.customer.email,
                    c.status,
                    c.assigned_agent.get_username() if c.assigned_agent else "",
                    c.created.isoformat(),
                    c.handed_over_at.isoformat() if c.handed_over_at else "",
                    c.resolved_at.isoformat() if c.resolved_at else "",
                    c.csat_score or "",
                    m.seq,
                    m.sender,
                    m.text,
                    m.intent,
                    "" if m.confidence is None else f"{m.confidence:.4f}",
                    m.created.isoformat(),
                ]
            )
        return response

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: Any
    ) -> None:
        # A note added here is signed by whoever wrote it.
        for obj in formset.save(commit=False):
            if isinstance(obj, ConversationNote) and obj.author_id is None:
                obj.author_id = request.user.pk
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


# --- messages and the review queue ------------------------------------------------


class ReviewedFilter(admin.SimpleListFilter):
    title = "reviewed"
    parameter_name = "reviewed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not yet"), ("yes", "Reviewed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in ("yes", "no"):
            return queryset
        wanted = self.value() == "yes"
        # "reviewed" is annotated by review.predictions(), out of mypy's sight.
        return review.predictions(queryset).filter(reviewed=wanted)  # type: ignore[misc]


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


# --- customers, the agent console's data -----------------------------------------


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "created", "last_seen"]
    search_fields = ["name", "email"]
    readonly_fields = ["uuid", "created", "last_seen"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    fields = ["shortcut", "title", "text"]
    list_display = ["shortcut", "title", "updated"]
    search_fields = ["shortcut", "title", "text"]


@admin.register(ConversationNote)
class ConversationNoteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "conversation", "author", "created"]
    list_filter = ["created"]
    search_fields = ["text", "conversation__public_id"]
    readonly_fields = ["author", "created"]
    raw_id_fields = ["conversation"]

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if obj.author_id is None:
            obj.author_id = request.user.pk
        super().save_model(request, obj, form, change)


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ["user", "last_seen"]
    readonly_fields = ["user", "last_seen"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- what the bot answers from ----------------------------------------------------


@admin.register(Article)
class ArticleAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {
        "title": "The bot matches questions mostly against the title.",
        "slug": "The article's address: /help/<slug>/.",
        "body": "Plain text; the bot quotes the start of it.",
        "published": "Only published articles are searched and shown.",
    }
    list_display = ["title", "slug", "published", "has_embedding", "updated"]
    list_filter = ["published", "updated"]
    search_fields = ["title", "body", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    fields = ["title", "slug", "body", "tags", "published"]

    @admin.display(boolean=True, description="embedded")
    def has_embedding(self, obj: Article) -> bool:
        return obj.embedding is not None


@admin.register(ResponseTemplate)
class ResponseTemplateAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {"active": "Inactive templates are never said."}
    list_display = ["key", "text", "active"]
    list_filter = ["active", "key"]
    list_editable = ["active"]
    search_fields = ["key", "text"]


# --- the shop's orders ------------------------------------------------------------


class OrderItemInline(HelpTextMixin, admin.TabularInline):
    help_texts = {"sku": "The product's SKU in the catalog.", "price": "Unit price."}

    model = OrderItem
    extra = 0
    fields = ("sku", "name", "quantity", "price")


@admin.register(Order)
class OrderAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {
        "number": "What the customer quotes, e.g. NW-1001.",
        "customer_name": "As on the order.",
        "status": "The bot tells the customer this status.",
        "carrier": "Shipping company, shown with the tracking number.",
        "eta": "Expected delivery date.",
        "placed_at": "When the order was placed.",
        "delivered_at": "Starts the return window.",
        "refund_status": "Where a refund stands.",
        "total": "Order total in the shop's currency.",
    }
    list_display = [
        "number",
        "email",
        "customer_name",
        "status",
        "refund_status",
        "total",
        "placed_at",
    ]
    list_filter = ["status", "refund_status", "carrier", "placed_at"]
    search_fields = ["number", "email", "customer_name", "tracking_number"]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline]


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = ["order", "conversation", "created"]
    search_fields = ["order__number", "order__email"]
    raw_id_fields = ["order", "conversation"]

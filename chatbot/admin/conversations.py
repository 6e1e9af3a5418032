"""Staff admin for transcripts and the customers who wrote them."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse

from chatbot import events
from chatbot.admin.filters import IntentFilter, LowConfidenceFilter, YesNoFilter
from chatbot.admin.help_text import HelpTextMixin
from chatbot.models import (
    Boundary,
    Conversation,
    ConversationNote,
    Customer,
    Message,
    ShopSettings,
)

# A spreadsheet runs a cell that starts with one of these as a formula
# (=HYPERLINK(…) sends the reader's data away), and tab / carriage return let a
# cell start with one after the program trims it. OWASP's remedy: a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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


class HandedOverFilter(YesNoFilter):
    title = "handed over"
    parameter_name = "handed_over"
    answers = [("yes", "To a person"), ("no", "Bot only")]

    def condition(self, queryset: QuerySet[Any]) -> tuple[QuerySet[Any], Q]:
        person = Q(handed_over_at__isnull=False) | Q(waiting_since__isnull=False)
        return queryset, person


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

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        # Shown (not refused, not a save that redirects): the transcript was read.
        if request.method == "GET" and response.status_code == 200:
            conversation = self.get_object(request, object_id)
            if conversation is not None:
                events.announce_opened(
                    events.Place.ADMIN, conversations=[conversation], user=request.user
                )
        return response

    @admin.display(description="messages", ordering="n_messages")
    def message_count(self, obj: Any) -> int:
        return int(obj.n_messages)

    @admin.action(description="Export the selected transcripts as CSV")
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponse:
        # A CSV file travels (mail, shared drives): it keeps what the export
        # boundary keeps, never a card number, and contacts only if the shop allows.
        shop = ShopSettings.load()

        def kept(text: str) -> str:
            return shop.redact(text, boundary=Boundary.EXPORT).text

        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="transcripts.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        events.announce_opened(
            events.Place.ADMIN, conversations=list(queryset), user=request.user
        )
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
                spreadsheet_safe(cell)
                for cell in [
                    c.public_id,
                    kept(str(c.customer)),
                    kept(c.customer.email),
                    c.status,
                    c.assigned_agent.get_username() if c.assigned_agent else "",
                    c.created.isoformat(),
                    c.handed_over_at.isoformat() if c.handed_over_at else "",
                    c.resolved_at.isoformat() if c.resolved_at else "",
                    c.csat_score or "",
                    m.seq,
                    m.sender,
                    kept(m.text),
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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "created", "last_seen"]
    search_fields = ["name", "email"]
    readonly_fields = ["uuid", "created", "last_seen"]

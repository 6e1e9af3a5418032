"""Access requests: everything held about a person, as JSON and as a transcript.

The JSON has every row every collector finds (``privacy/collectors.py``), every
field, machine-readable; the HTML is the conversations as the person would read
them, plus their orders and returns. Both are what the person is entitled to see,
their own email and phone included; only what is always masked wherever text leaves
the chat (card numbers, IBANs, ID numbers: ``ml.redaction.ALWAYS``) is masked, as in
any other export, in case it was stored before store-time masking was on.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils import timezone

from chatbot.models import Conversation, Order, ReturnRequest, ShopSettings
from ml.redaction import ALWAYS, redact, redact_json
from privacy.collectors import COLLECTORS
from privacy.models import DataSubjectRequest, email_digest
from privacy.subjects import Subject, subject_find

FORMAT = "concierge-export/1"


@dataclass(frozen=True)
class Export:
    record: DataSubjectRequest
    data: dict[str, Any]
    html: str

    def json_text(self) -> str:
        # UTF-8 as written: names and messages stay readable for the person.
        return json.dumps(
            self.data,
            cls=DjangoJSONEncoder,
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )

    def zip_bytes(self) -> bytes:
        """``data.json`` and ``transcript.html`` in one zip (the admin's download)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.json", self.json_text())
            archive.writestr("transcript.html", self.html)
        return buffer.getvalue()

    def filename(self) -> str:
        return f"customer-data-{self.record.created:%Y%m%d-%H%M%S}.zip"


def export_data(subject: Subject) -> dict[str, Any]:
    """Every row held about ``subject``, per kind (``app_label.Model``)."""
    rows = {}
    pattern = ShopSettings.load().order_number_pattern
    for collector in COLLECTORS:
        exported = collector.exported(subject)
        if exported:
            rows[collector.label] = redact_json(
                exported, kinds=ALWAYS, order_numbers=pattern
            )
    return {
        "format": FORMAT,
        "generated": timezone.now(),
        "email_addresses": sorted(subject.emails),
        "rows": rows,
    }


def transcript_html(subject: Subject) -> str:
    """The person's conversations, orders and returns as a page to read."""
    conversations = list(
        Conversation.objects.filter(pk__in=subject.conversation_ids)
        .prefetch_related("messages")
        .order_by("created")
    )
    pattern = ShopSettings.load().order_number_pattern
    for conversation in conversations:
        for message in conversation.messages.all():  # shown, never saved
            message.text = redact(message.text, order_numbers=pattern).text
    return render_to_string(
        "privacy/transcript.html",
        {
            "generated": timezone.now(),
            "emails": sorted(subject.emails),
            "conversations": conversations,
            "orders": Order.objects.filter(pk__in=subject.order_ids)
            .prefetch_related("items")
            .order_by("placed_at"),
            "returns": ReturnRequest.objects.filter(
                conversation_id__in=subject.conversation_ids
            ).select_related("order"),
        },
    )


def subject_export(
    *,
    customer_id: int | None = None,
    email: str | None = None,
    by: Any = None,
    by_name: str,
    via: str,
) -> Export:
    """Export everything held about the person named by ``customer_id`` or
    ``email``, and record that it was exported (counts, never the data).

    Raises:
        SubjectError: the request names nobody.
    """
    subject = subject_find(customer_id=customer_id, email=email)
    data = export_data(subject)
    html = transcript_html(subject)
    counts = {label: len(rows) for label, rows in data["rows"].items()}
    record = DataSubjectRequest.objects.create(
        kind=DataSubjectRequest.Kind.EXPORT,
        via=via,
        requested_by=by,
        requested_by_name=by_name,
        named_by=subject.named_by,
        customers=len(subject.customer_ids),
        email_digests=sorted(email_digest(e) for e in subject.emails),
        rows=counts,
        total=sum(counts.values()),
    )
    return Export(record=record, data=data, html=html)

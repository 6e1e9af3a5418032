"""Who an access or erasure request is about: their customer records and addresses.

A person is named by one customer record or by an email address. An address finds
every customer record that used it: the one whose email it is (the follow-up form
sets that), and the ones that typed it into the chat (an order lookup from another
device keeps it only in the message and the bot's state). Either way, records the
shop vouched are the same shopper (one verified ``external_id``) come too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from chatbot.models import Conversation, Customer, Message, Order, ReturnRequest


class SubjectError(Exception):
    """A request that names nobody (or nobody we know); the message says why."""


def email_regex(email: str) -> str:
    """A regular expression (PostgreSQL's and Python's alike) finding ``email`` as a
    whole address: alice@example.com, not malice@example.com nor
    alice@example.com.au."""
    return rf"(?<![\w.+-]){re.escape(email)}(?![\w-]|\.\w)"


def mentions(field: str, emails: frozenset[str]) -> Q:
    """Rows whose ``field`` holds one of ``emails`` (case-insensitive)."""
    q = Q(pk__in=[])
    for email in emails:
        q |= Q(**{f"{field}__iregex": email_regex(email)})
    return q


@dataclass(frozen=True)
class Subject:
    """The person a request is about: customer records and email addresses."""

    customer_ids: frozenset[int]
    emails: frozenset[str]
    named_by: str  # "customer" or "email"

    @cached_property
    def conversation_ids(self) -> list[int]:
        return list(
            Conversation.objects.filter(customer_id__in=self.customer_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    @cached_property
    def public_ids(self) -> list[str]:
        return list(
            Conversation.objects.filter(pk__in=self.conversation_ids).values_list(
                "public_id", flat=True
            )
        )

    @cached_property
    def customer_uuids(self) -> list[str]:
        rows = Customer.objects.filter(pk__in=self.customer_ids)
        return [str(u) for u in rows.values_list("uuid", flat=True)]

    @cached_property
    def message_ids(self) -> list[int]:
        return list(
            Message.objects.filter(
                conversation_id__in=self.conversation_ids
            ).values_list("pk", flat=True)
        )

    @cached_property
    def order_ids(self) -> list[int]:
        """Their orders: on one of their addresses or their verified shopper id,
        returned from their chat, or looked up in their chat (the bot's state keeps
        the number it verified)."""
        numbers = set()
        states = Conversation.objects.filter(pk__in=self.conversation_ids)
        for state in states.values_list("state", flat=True):
            last = (state or {}).get("last_order") or {}
            if isinstance(last, dict) and isinstance(last.get("number"), str):
                numbers.add(last["number"])
        returned = ReturnRequest.objects.filter(
            conversation_id__in=self.conversation_ids
        ).values("order_id")
        shoppers = Customer.objects.filter(pk__in=self.customer_ids).exclude(
            external_id=""
        )
        found = Order.objects.filter(
            Q(number__in=numbers)
            | Q(pk__in=returned)
            # The shop's own id for them, on orders pushed or looked up for it.
            | Q(shopper_id__in=shoppers.values("external_id"))
        )
        for email in self.emails:
            found = found | Order.objects.filter(email__iexact=email)
        return sorted(set(found.values_list("pk", flat=True)))


def normalised_email(email: str) -> str:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise SubjectError(f"{email!r} is not an email address.") from error
    return email


def customers_using(email: str) -> set[int]:
    """Every customer record that used ``email``: as their own, or typed in chat."""
    pattern = email_regex(email)
    own = Customer.objects.filter(email__iexact=email).values_list("pk", flat=True)
    typed = Message.objects.filter(
        sender=Message.Sender.CUSTOMER, text__iregex=pattern
    ).values_list("conversation__customer_id", flat=True)
    in_state = (
        Conversation.objects.annotate(state_text=Cast("state", TextField()))
        .filter(state_text__iregex=pattern)
        .values_list("customer_id", flat=True)
    )
    return {*own, *typed, *in_state}


def same_shopper(customer_ids: set[int]) -> set[int]:
    """These customer records and every other one the shop vouched is the same
    shopper (the same verified ``external_id``: one person on several devices)."""
    external = Customer.objects.filter(pk__in=customer_ids).exclude(external_id="")
    shoppers = external.values_list("external_id", flat=True)
    also = Customer.objects.filter(external_id__in=list(shoppers))
    return set(customer_ids) | set(also.values_list("pk", flat=True))


def emails_of(customer_ids: set[int]) -> set[str]:
    """The addresses these customers gave: their own, and the one an order lookup
    in their chat verified (kept in the conversation's state). An address only
    typed, never verified, may be someone else's: it does not count."""
    found = {
        e.lower()
        for e in Customer.objects.filter(pk__in=customer_ids).values_list(
            "email", flat=True
        )
        if e
    }
    states = Conversation.objects.filter(customer_id__in=customer_ids)
    for state in states.values_list("state", flat=True):
        last = (state or {}).get("last_order") or {}
        if isinstance(last, dict) and isinstance(last.get("email"), str):
            found.add(last["email"].lower())
    return found


def subject_find(
    *, customer_id: int | None = None, email: str | None = None
) -> Subject:
    """The person named by a customer id or an email address (exactly one of them).

    Raises:
        SubjectError: neither or both given, a malformed address, or nobody found.
    """
    if (customer_id is None) == (email is None or email == ""):
        raise SubjectError("Name the person by a customer id or an email address.")
    if email:
        address = normalised_email(email)
        customers = same_shopper(customers_using(address))
        emails = {address} | emails_of(customers)
        return Subject(
            customer_ids=frozenset(customers),
            emails=frozenset(emails),
            named_by="email",
        )
    assert customer_id is not None  # for mypy: checked above
    if not Customer.objects.filter(pk=customer_id).exists():
        raise SubjectError(f"There is no customer with id {customer_id}.")
    customers = same_shopper({customer_id})
    return Subject(
        customer_ids=frozenset(customers),
        emails=frozenset(emails_of(customers)),
        named_by="customer",
    )

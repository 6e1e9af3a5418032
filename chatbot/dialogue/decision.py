"""What the dialogue policy reads and what it decides: plain data, no database.

The service (``chatbot.services.bot_reply``) gathers an :class:`Incoming` message and
the conversation's state, lets the policy decide, and applies the :class:`Decision`
in one transaction. The policy reaches the shop only through :class:`Lookups`, a
handful of read-only functions, so the whole decision table runs without a database.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from chatbot.dialogue.articles import shop_values

if TYPE_CHECKING:
    from chatbot.dialogue.articles import Passage
    from chatbot.dialogue.shop import Shop
    from chatbot.models import Article, Order
    from classifier.serving import Classification
    from recommender.models import Product
    from recommender.search import Found


@dataclass(frozen=True)
class Incoming:
    """A customer message as the policy sees it."""

    text: str
    postback: Mapping[str, Any] = field(default_factory=dict)
    customer_id: int | None = None
    customer_name: str = ""
    # The shopper's id in the shop, from an identity the shop signed
    # (Customer.external_id): their orders are found without asking the email.
    shopper_id: str = ""
    client_address: str | None = None
    # A message that may hold several requests: each clause with the model's
    # reading of it (``chatbot.dialogue.multi``); empty for a one-clause message.
    parts: tuple[tuple[str, Classification | None], ...] = ()


@dataclass(frozen=True)
class QueueEstimate:
    """What a customer joining the queue for a person now would be told.

    ``wait_seconds`` is 0 when ``agents_online`` is 0: nobody, no estimate.
    """

    agents_online: int
    position: int
    wait_seconds: int


@dataclass(frozen=True)
class Lookups:
    """The read-only questions the policy may ask of the shop; nothing here writes.

    ``live_lookups()`` in ``chatbot.dialogue.lookups`` answers them from the
    database, the knowledge base and the recommender; tests answer them from lists.
    """

    say: Callable[..., str]
    # (text, *, constraints=None, currency) → Found: the products for a message
    # (or for constraints a follow-up refined), else the nearest alternatives.
    search_products: Callable[..., Found]
    recommend_for: Callable[..., list[tuple[Product, str]]]
    shopping_context: Callable[[int | None], tuple[str | None, list[str]]]
    # (*, number, email="", shopper_id="") → the order, None when there is none
    # that is theirs; raises OrderLookupUnavailable when the shop doesn't answer.
    find_order: Callable[..., Order | None]
    # Seconds before the next order lookup with these keys may run (0: now).
    lookup_wait: Callable[..., int]
    check_code: Callable[..., CodeCheck]
    queue: Callable[[], QueueEstimate]
    now: Callable[[], datetime]
    # The shop's settings (currency, order numbers, hours, return window…).
    shop: Callable[[], Shop]
    # Answers from the help centre (#13 item 1): the published articles an intent
    # links to, and the section nearest a question among given articles, or in the
    # whole help centre with ``among=None`` (``Passage.fits``: close enough).
    linked_articles: Callable[[str], list[Article]]
    find_passage: Callable[..., Passage | None]
    # The products with these SKUs, in that order (the cards shown earlier).
    find_products: Callable[[Sequence[str]], list[Product]] = lambda skus: []
    # The catalog product a message names ("is the Ridge boot in stock"), if any.
    product_named: Callable[[str], Product | None] = lambda text: None


class OrderLookupUnavailable(Exception):
    """The shop's order system did not answer (in time, or its circuit is open):
    the customer hears that, never that their order does not exist."""


@dataclass(frozen=True)
class OrderAction:
    """A change to an order the customer confirmed and proved with the mailed code;
    applied under the order's lock, spending the code (``code_id``) with it."""

    kind: Literal["cancel", "return"]
    order_id: int
    code_id: int | None = None


@dataclass(frozen=True)
class CodeRequest:
    """Mail a new one-time code for ``kind`` to the order's address."""

    kind: Literal["cancel", "return"]
    order_id: int


@dataclass(frozen=True)
class CodeCheck:
    """How a typed code compares with the live one mailed for an order action.

    ``result``: ``match``; ``wrong`` (``attempts_left`` more may be tried);
    ``expired`` (none is live: expired, spent, or too many wrong attempts).
    """

    result: Literal["match", "wrong", "expired"]
    code_id: int | None = None
    attempts_left: int = 0


@dataclass(frozen=True)
class LookupKeys:
    """What a failed order lookup is counted against, across all conversations."""

    client: str | None
    email: str
    number: str


@dataclass
class Reply:
    """What the bot says, and the reading of the message it answers.

    ``action``: what the policy did, as the message frame's ``payload.action`` tells
    clients and the dialogue tests: answer, form, recommend, clarify, handoff,
    fallback or say.
    """

    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    action: str = ""
    intent: str = ""
    confidence: float | None = None
    model_version_id: int | None = None
    uncertainty: float | None = None
    ranking: list[tuple[str, float]] = field(default_factory=list)
    # The recommender version that ranked the cards, when one did.
    recommender_version_id: int | None = None
    # The message filled a form's field: the model's reading of it is not a
    # prediction anyone should review.
    form_value: bool = False


@dataclass
class Decision:
    """The reply and everything that should change with it.

    Attributes:
        reply: what the bot says.
        state: the conversation's dialogue state after this turn (a new dict).
        handoff: why the conversation goes to the agents' queue, if it does.
        order_action: an order change the customer confirmed, if any.
        followup_email: an address to reach the customer at, if they gave one.
        failed_lookup: an order lookup that found nothing, to count against its
            client address, email and order number.
        send_code: a one-time code to mail before an order change.
        wrong_code: the id of a mailed code that was typed wrong.
    """

    reply: Reply
    state: dict[str, Any]
    handoff: str | None = None
    order_action: OrderAction | None = None
    followup_email: str | None = None
    failed_lookup: LookupKeys | None = None
    send_code: CodeRequest | None = None
    wrong_code: int | None = None


class Deciding:
    """One decision in the making: the message, a private copy of the state, lookups.

    Steps of the policy and of forms take it, update ``state`` and note effects;
    ``decision()`` hands the result out. The caller's state is never touched.
    """

    def __init__(
        self, incoming: Incoming, *, state: Mapping[str, Any], lookups: Lookups
    ) -> None:
        self.incoming = incoming
        self.state: dict[str, Any] = copy.deepcopy(dict(state))
        self.lookups = lookups
        self.handoff: str | None = None
        self.order_action: OrderAction | None = None
        self.followup_email: str | None = None
        # Whether this turn failed (not understood, not found): failed turns in a
        # row hand the conversation to a person.
        self.turn_failed = False
        self.failed_lookup: LookupKeys | None = None
        self.send_code: CodeRequest | None = None
        self.wrong_code: int | None = None

    def say(self, key: str, **context: Any) -> str:
        # Every template may name the shop's settings ({shop.return_window_days}).
        context.setdefault("shop", self.shop_values)
        return self.lookups.say(key, **context)

    @cached_property
    def shop_values(self) -> dict[str, str]:
        return shop_values(self.lookups.shop())

    def decision(self, reply: Reply) -> Decision:
        return Decision(
            reply=reply,
            state=self.state,
            handoff=self.handoff,
            order_action=self.order_action,
            followup_email=self.followup_email,
            failed_lookup=self.failed_lookup,
            send_code=self.send_code,
            wrong_code=self.wrong_code,
        )

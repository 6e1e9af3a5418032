"""The shop as the policy sees it: plain data, no database.

``chatbot.models.ShopSettings`` (edited in the admin) hands the policy a :class:`Shop`
through ``Lookups.shop()``; answers, forms and handoffs read the same values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from recommender.models import CURRENCY_SYMBOLS, money

# Where the bot finds orders, and what a confirmed cancellation or return does:
# - local: Concierge's order table (the demo's, or what the API fills), changed by
#   the bot itself: done as soon as the customer confirms;
# - api: orders pushed through the API; a confirmed change is sent to the shop as a
#   webhook (order.cancel_requested…) and is done when the shop updates the order;
# - http: the shop's own order endpoint (chatbot.orders), actions POSTed to it.
# Order-number formats one shop may list (one regular expression per line).
MAX_ORDER_FORMATS = 10

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(text: str) -> tuple[time, time]:
    """``"09:00-17:30"`` → (09:00, 17:30); raises ValueError on anything else."""
    match = HOURS.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a range like 09:00-17:30")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60):
        raise ValueError(f"{text!r} has an hour or minute out of range")
    opens = time(h1, m1)
    closes = time(23, 59, 59) if (h2, m2) == (24, 0) else time(h2, m2)
    if closes <= opens:
        raise ValueError(f"{text!r} closes before it opens")
    return opens, closes


@dataclass(frozen=True)
class Shop:
    """The settings answers and forms depend on, as one snapshot per decision.

    Attributes:
        name: the shop's name, as the bot says it.
        currency: ISO 4217 code prices are quoted in unless a product says otherwise.
        order_number_pattern: the shop's order-number formats, one regular
            expression per line, each matching one order number in full
            (``NW-\\d{5}`` for the demo shop; ``#\\d{4,}`` for a Shopify store).
        order_source: where orders are looked up and where cancellations and
            returns go: ``local``, ``api`` or ``http`` (see above).
        timezone: the IANA zone opening hours are written in.
        opening_hours: weekday (``mon``…``sun``) → ``"09:00-17:00"``; a missing or
            empty day is closed.
        return_window_days: days after delivery a return may be started.
        free_shipping_threshold: order value from which shipping is free; ``None``
            when shipping is never free.
    """

    # The defaults are the demo shop's (Northwind Outfitters, New York); a real shop
    # changes them in the admin.
    name: str = "Northwind"
    currency: str = "USD"
    order_number_pattern: str = r"NW-\d{5}"
    order_source: str = "local"
    timezone: str = "America/New_York"
    opening_hours: Mapping[str, str] = field(
        default_factory=lambda: {
            **{day: "09:00-18:00" for day in WEEKDAYS[:5]},
            "sat": "10:00-16:00",
        }
    )
    return_window_days: int = 30
    free_shipping_threshold: Decimal | None = Decimal("75")

    @cached_property
    def order_number_re(self) -> re.Pattern[str]:
        """Any of the formats, matching an order number as the shop writes it."""
        lines = [line.strip() for line in self.order_number_pattern.splitlines()]
        either = "|".join(f"(?:{line})" for line in lines if line)
        return re.compile(either, re.IGNORECASE)

    @property
    def order_changes_wait_for_shop(self) -> bool:
        """Whether a confirmed cancellation or return is only sent, to be done by
        the shop (the customer is told it was sent, not that it is done)."""
        return self.order_source != "local"

    @property
    def currency_symbol(self) -> str:
        return CURRENCY_SYMBOLS.get(self.currency.upper(), self.currency.upper())

    def money(self, amount: Decimal | float | int) -> str:
        return money(amount, self.currency)

    def hours_on(self, weekday: int) -> tuple[time, time] | None:
        """Opening and closing time on ``weekday`` (0 = Monday), or None if closed."""
        text = self.opening_hours.get(WEEKDAYS[weekday], "")
        return parse_hours(text) if text else None

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        hours = self.hours_on(local.weekday())
        return hours is not None and hours[0] <= local.time() < hours[1]

    def next_opening(self, at: datetime) -> datetime | None:
        """When the shop next opens after ``at`` (local time), or None if never."""
        local = at.astimezone(ZoneInfo(self.timezone))
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            hours = self.hours_on(day.weekday())
            if hours is None:
                continue
            opens = datetime.combine(day, hours[0], tzinfo=local.tzinfo)
            if opens > local:
                return opens
        return None

    def hours_text(self) -> str:
        """``"Mon-Fri 09:00-17:00, Sat 10:00-14:00 (Europe/Berlin)"``."""
        runs: list[tuple[str, str, str]] = []  # (first day, last day, hours)
        for day in WEEKDAYS:
            hours = self.opening_hours.get(day, "")
            if not hours:
                continue
            shown = hours.replace(" ", "")
            previous = WEEKDAYS[WEEKDAYS.index(day) - 1] if day != "mon" else None
            if runs and runs[-1][2] == shown and runs[-1][1] == previous:
                runs[-1] = (runs[-1][0], day, shown)
            else:
                runs.append((day, day, shown))
        if not runs:
            return "closed every day"
        parts = [
            (f"{a.title()}-{b.title()}" if a != b else a.title()) + f" {h}"
            for a, b, h in runs
        ]
        return f"{', '.join(parts)} ({self.timezone})"

"""The shop's settings: one row, edited in the admin, read by answers and forms."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from chatbot.dialogue.shop import Shop, money
from chatbot.models import ShopSettings, current_shop

BERLIN = {
    "mon": "09:00-17:00",
    "tue": "09:00-17:00",
    "wed": "09:00-17:00",
    "thu": "09:00-17:00",
    "fri": "09:00-15:00",
    "sat": "10:00-14:00",
}


def test_it_is_open_within_the_hours_of_the_shops_time_zone():
    shop = Shop(timezone="Europe/Berlin", opening_hours=BERLIN)
    # 2026-12-01 is a Tuesday; Berlin is UTC+1 in winter.
    assert shop.is_open(datetime(2026, 12, 1, 8, 30, tzinfo=UTC))  # 09:30 local
    assert not shop.is_open(datetime(2026, 12, 1, 7, 30, tzinfo=UTC))  # 08:30
    assert not shop.is_open(datetime(2026, 12, 1, 16, 0, tzinfo=UTC))  # 17:00
    assert not shop.is_open(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))  # Sunday


def test_it_finds_the_next_opening_across_a_closed_sunday():
    shop = Shop(timezone="Europe/Berlin", opening_hours=BERLIN)
    opens = shop.next_opening(datetime(2026, 12, 5, 15, 0, tzinfo=UTC))  # Sat 16:00
    assert opens is not None
    assert (opens.weekday(), opens.hour, opens.minute) == (0, 9, 0)  # Monday 09:00
    assert (
        Shop(opening_hours={}).next_opening(datetime(2026, 12, 1, tzinfo=UTC)) is None
    )


def test_it_writes_the_hours_the_way_a_customer_reads_them():
    shop = Shop(timezone="Europe/Berlin", opening_hours=BERLIN)
    assert shop.hours_text() == (
        "Mon-Thu 09:00-17:00, Fri 09:00-15:00, Sat 10:00-14:00 (Europe/Berlin)"
    )


def test_it_writes_money_in_the_shops_currency():
    assert money(50, "usd") == "$50"
    assert money(Decimal("49.9"), "EUR") == "€49.90"
    assert money(12, "CHF") == "12 CHF"


@pytest.mark.django_db
def test_it_keeps_one_row_and_hands_the_policy_a_snapshot():
    ShopSettings(return_window_days=14, currency="eur").save()
    ShopSettings(return_window_days=21).save()
    assert ShopSettings.objects.count() == 1
    shop = current_shop()
    assert shop.return_window_days == 21
    assert shop.order_number_re.fullmatch("nw-10234")


@pytest.fixture
def superbob(bob: Any) -> Any:
    bob.is_superuser = True
    bob.save()
    return bob


def change_form(**changes: Any) -> dict[str, Any]:
    form = {
        "name": "Northwind",
        "currency": "USD",
        "order_number_pattern": r"NW-\d{5}",
        "order_source": "local",
        "order_endpoint_url": "",
        "order_endpoint_secret": "ordsec_a-secret-of-the-shop-0123456789",
        "timezone": "Europe/Berlin",
        "opening_hours": '{"mon": "09:00-17:00"}',
        "return_window_days": "30",
        "free_shipping_threshold": "50",
        "retention_conversations_days": "365",
        "retention_tracking_days": "90",
        "retention_webhook_deliveries_days": "30",
        "retention_codes_days": "7",
        "retention_rate_limit_days": "30",
        "retention_anonymous_customers_days": "90",
        "retention_access_log_days": "365",
    }
    return {**form, **changes}


@pytest.mark.django_db
def test_it_opens_the_one_row_from_the_list_and_offers_no_add(client, superbob):
    client.force_login(superbob)
    listing = client.get(reverse("admin:chatbot_shopsettings_changelist"), secure=True)
    assert listing.status_code == 302
    assert listing["Location"] == reverse("admin:chatbot_shopsettings_change", args=[1])
    assert (
        client.get(reverse("admin:chatbot_shopsettings_add"), secure=True).status_code
        == 403
    )


@pytest.mark.django_db
def test_it_saves_what_staff_change_in_the_admin(client, superbob):
    client.force_login(superbob)
    url = reverse("admin:chatbot_shopsettings_change", args=[ShopSettings.load().pk])
    saved = client.post(url, change_form(return_window_days="14"), secure=True)
    assert saved.status_code == 302
    assert current_shop().return_window_days == 14
    assert current_shop().timezone == "Europe/Berlin"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("order_number_pattern", "NW-(", "Not a regular expression"),
        ("order_number_pattern", r"\d*", "must not match an empty string"),
        ("order_number_pattern", "NW-\\d{5}\n#(\\d+", "Line 2 (#(\\d+): Not a"),
        ("order_number_pattern", "[A-Z]{4}", "an order number has digits"),
        ("order_source", "http", "needs its URL"),
        ("order_source", "shopify", "Select a valid choice"),
        ("order_endpoint_url", "ftp://shop.example/orders", "Enter a valid URL"),
        ("timezone", "Mars/Olympus", "is not a time zone name"),
        ("opening_hours", '{"monday": "09:00-17:00"}', "is not one of"),
        ("opening_hours", '{"mon": "17:00-09:00"}', "closes before it opens"),
        ("opening_hours", '{"mon": "9am to 5pm"}', "is not a range like"),
        ("retention_conversations_days", "0", "greater than or equal to 1"),
        ("retention_tracking_days", "-5", "greater than or equal to"),
    ],
)
def test_it_refuses_bad_settings_with_a_clear_error_and_changes_nothing(
    client, superbob, field, value, error
):
    client.force_login(superbob)
    before = ShopSettings.load()
    url = reverse("admin:chatbot_shopsettings_change", args=[before.pk])
    refused = client.post(
        url, change_form(**{field: value, "return_window_days": "7"}), secure=True
    )
    assert refused.status_code == 200
    assert error in refused.content.decode()
    after = ShopSettings.objects.get()
    assert (after.return_window_days, getattr(after, field)) == (
        before.return_window_days,
        getattr(before, field),
    )


@pytest.mark.django_db
def test_it_hides_the_shop_settings_from_the_public(client):
    page = client.get(reverse("admin:chatbot_shopsettings_changelist"), secure=True)
    assert page.status_code == 302
    assert "/login/" in page["Location"]


@pytest.mark.django_db
def test_it_saves_several_order_number_formats_and_the_shops_endpoint(client, superbob):
    client.force_login(superbob)
    url = reverse("admin:chatbot_shopsettings_change", args=[ShopSettings.load().pk])
    saved = client.post(
        url,
        change_form(
            order_number_pattern="#\\d{4,}\r\n\\d{9}\r\nNW-\\d{5}",
            order_source="http",
            order_endpoint_url="https://shop.example/concierge/orders",
        ),
        secure=True,
    )
    assert saved.status_code == 302
    shop = current_shop()
    assert shop.order_source == "http"
    assert shop.order_changes_wait_for_shop
    assert all(
        shop.order_number_re.fullmatch(number)
        for number in ("#1001", "100000123", "NW-10234")
    )
    assert ShopSettings.load().order_endpoint_url == (
        "https://shop.example/concierge/orders"
    )

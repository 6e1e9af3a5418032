"""Access and erasure requests in the admin: only superusers and staff with "Can
erase and export customer data" may; erasure goes through a confirmation page
that lists what goes; an export is a zip; both are recorded."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from chatbot.models import Conversation, Customer, Message, Order, ShopSettings
from privacy.models import DataSubjectRequest
from tests.factories import (
    ConversationFactory,
    CustomerFactory,
    MessageFactory,
    OrderFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

ALICE = "alice@example.com"
ERASE = "/admin/privacy/datasubjectrequest/erase/"
EXPORT = "/admin/privacy/datasubjectrequest/export/"
CUSTOMERS = "/admin/chatbot/customer/"
REQUESTS = "/admin/privacy/datasubjectrequest/"


@pytest.fixture
def alices_chat(alice: Customer) -> Conversation:
    conversation = ConversationFactory.create(customer=alice)
    MessageFactory.create(conversation=conversation, text="<b>my parcel</b> zq81")
    MessageFactory.create(
        conversation=conversation, sender=Message.Sender.BOT, text="Let me look."
    )
    OrderFactory.create(email=ALICE)
    return conversation


@pytest.fixture
def dpo(db: Any) -> Any:
    """The shop's data-protection officer: staff in the group a migration made
    (the one permission, and the customer list to pick a customer from)."""
    user = StaffFactory.create(username="dpo")
    user.groups.add(Group.objects.get(name="Data protection officer"))
    return user


@pytest.fixture
def plain_bob(db: Any) -> Any:
    """Staff who may view, change and even delete customer rows, but not this."""
    return StaffFactory.create(
        username="bob",
        permissions=[
            "chatbot.view_customer",
            "chatbot.change_customer",
            "chatbot.delete_customer",
        ],
    )


def get(client: Any, url: str, data: Any = None) -> Any:
    return client.get(url, data, secure=True)


def post(client: Any, url: str, data: Any) -> Any:
    return client.post(url, data, secure=True)


def test_plain_staff_can_neither_erase_nor_export(
    client, plain_bob, alice, alices_chat
):
    client.force_login(plain_bob)

    assert get(client, ERASE, {"email": ALICE}).status_code == 403
    assert post(client, ERASE, {"email": ALICE, "confirm": "yes"}).status_code == 403
    assert post(client, EXPORT, {"email": ALICE}).status_code == 403
    assert get(client, REQUESTS).status_code == 403
    # The customer list offers neither action, and posting one does nothing.
    page = get(client, CUSTOMERS).content.decode()
    assert "erase_data" not in page and "export_data" not in page
    for action in ("erase_data", "export_data"):
        response = post(
            client, CUSTOMERS, {"action": action, "_selected_action": [alice.pk]}
        )
        assert response.status_code in (200, 302)
        assert response.get("Content-Type") != "application/zip"
    assert Customer.objects.filter(pk=alice.pk).exists()
    assert Message.objects.filter(conversation=alices_chat).count() == 2
    assert not DataSubjectRequest.objects.exists()


def test_erase_by_email_lists_what_goes_and_only_a_yes_erases(
    client, dpo, alice, alices_chat
):
    client.force_login(dpo)

    page = post(client, ERASE, {"email": ALICE})

    html = page.content.decode()
    assert page.status_code == 200
    assert "Are you sure?" in html
    assert "<td>Messages</td><td>2</td><td>deleted</td>" in html
    assert "<td>Orders</td><td>1</td><td>anonymised</td>" in html
    assert Customer.objects.filter(pk=alice.pk).exists()  # nothing gone yet

    done = post(client, ERASE, {"email": ALICE, "confirm": "yes"})

    assert done.status_code == 302
    assert done["Location"] == REQUESTS
    assert not Customer.objects.filter(pk=alice.pk).exists()
    assert not Message.objects.exists()
    record = DataSubjectRequest.objects.get()
    assert (record.kind, record.requested_by, record.via) == ("erasure", dpo, "admin")
    assert record.rows["chatbot.Message"] == 2
    assert Order.objects.get().email == "erased@erased.invalid"


def test_erase_page_refuses_a_bad_address_with_a_clear_error(client, dpo, alice):
    client.force_login(dpo)

    page = post(client, ERASE, {"email": "not-an-address", "confirm": "yes"})

    assert page.status_code == 200
    assert "Enter a valid email address." in page.content.decode()
    assert Customer.objects.filter(pk=alice.pk).exists()
    assert not DataSubjectRequest.objects.exists()


def test_the_customer_action_leads_to_the_confirmation(client, dpo, alice, charlie):
    client.force_login(dpo)

    chosen = post(
        client, CUSTOMERS, {"action": "erase_data", "_selected_action": [alice.pk]}
    )
    assert chosen.status_code == 302
    confirm = get(client, chosen["Location"])
    assert f"Customer #{alice.pk}" in confirm.content.decode()
    post(client, ERASE, {"customer": [alice.pk], "confirm": "yes"})

    assert list(Customer.objects.all()) == [charlie]
    assert DataSubjectRequest.objects.get().named_by == "customer"


def test_the_export_action_downloads_a_zip_and_records_it(
    client, dpo, alice, alices_chat
):
    client.force_login(dpo)

    response = post(
        client, CUSTOMERS, {"action": "export_data", "_selected_action": [alice.pk]}
    )

    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["data.json", "transcript.html"]
    data = json.loads(archive.read("data.json"))
    assert data["rows"]["chatbot.Customer"][0]["fields"]["email"] == ALICE
    html = archive.read("transcript.html").decode()
    assert "&lt;b&gt;my parcel&lt;/b&gt; zq81" in html
    assert "<b>my parcel" not in html
    record = DataSubjectRequest.objects.get()
    assert (record.kind, record.requested_by_name) == ("export", "dpo")
    assert record.rows["chatbot.Message"] == 2


def test_the_export_page_by_email_downloads_for_a_superuser(
    client, alice, alices_chat, django_user_model
):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(root)

    form = get(client, EXPORT)
    response = post(client, EXPORT, {"email": ALICE})

    assert form.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert DataSubjectRequest.objects.get().requested_by == root


def test_the_log_answers_whether_an_address_was_erased(client, dpo, alice, charlie):
    client.force_login(dpo)
    post(client, ERASE, {"email": ALICE, "confirm": "yes"})

    found = get(client, REQUESTS, {"q": "Alice@Example.com"}).content.decode()
    other = get(client, REQUESTS, {"q": "charlie@example.com"}).content.decode()

    assert "1 access or erasure request" in found
    assert "0 access or erasure requests" in other


def test_the_shop_settings_page_offers_order_deletion(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(root)

    shop = ShopSettings.load()
    page = get(client, reverse("admin:chatbot_shopsettings_change", args=[shop.pk]))

    assert "erasure_deletes_orders" in page.content.decode()


def test_one_customer_per_export(client, dpo, alice, charlie):
    client.force_login(dpo)

    response = post(
        client,
        CUSTOMERS,
        {"action": "export_data", "_selected_action": [alice.pk, charlie.pk]},
    )

    assert response.status_code == 302
    assert not DataSubjectRequest.objects.exists()


def test_two_records_of_one_shopper_are_listed_and_erased_once(client, dpo, charlie):
    one = CustomerFactory.create(name="Ann", email="", external_id="shop-7")
    two = CustomerFactory.create(name="Ann", email="", external_id="shop-7")
    client.force_login(dpo)

    page = get(client, ERASE, {"customer": [one.pk, two.pk]}).content.decode()
    post(client, ERASE, {"customer": [one.pk, two.pk], "confirm": "yes"})

    assert page.count("<h2>Customer #") == 1
    assert "(2 customer records)" in page
    assert list(Customer.objects.all()) == [charlie]
    record = DataSubjectRequest.objects.get()
    assert record.customers == 2

"""The API's interactive docs and the admin's key pages, in real Chromium under
the real Content-Security-Policy: Swagger UI from our own static files, no CDN,
nothing refused."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_csp import Watch, enforced

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_list_the_endpoints_without_a_violation(live_stack, page):
    watched = Watch(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(live_stack.url + "/api/docs")
    expect(page.get_by_text("Concierge shop API")).to_be_visible()
    upsert = page.locator("#operations-catalog-products_upsert")
    expect(upsert).to_be_visible()
    upsert.locator("button.opblock-summary-control").click()
    expect(page.get_by_text("Idempotent by sku").first).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()

    assert all(url.startswith(live_stack.url) for url in requested), requested
    assert all(enforced(p) for p in watched.policies.values()), watched.policies
    assert watched.violations() == []


def test_the_admin_makes_a_key_and_shows_it_once(live_stack, page, bob: Any):
    bob.is_superuser = True
    bob.save()
    watched = Watch(page)
    page.goto(live_stack.url + "/admin/login/?next=/admin/api/apikey/add/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "bob-password-123")
    page.click("input[type=submit]")
    page.fill("#id_name", "ERP sync")
    page.get_by_label("Orders").check()
    page.click("input[name=_save]")
    key = page.locator("#api-key").inner_text()
    assert key.startswith("ck_")

    page.goto(live_stack.url + "/admin/api/apikey/")
    expect(page.get_by_text("ERP sync")).to_be_visible()
    assert key not in page.content()
    assert watched.violations() == []

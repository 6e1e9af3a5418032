"""Every page runs under a Content-Security-Policy with no inline script, and
nothing on it is refused (real Chromium against the real server)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The first script on every page, before the page's own: Playwright injects it
# through the DevTools protocol, which the policy does not govern.
LISTEN = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolation(
    `${location.pathname}: ${e.violatedDirective} ${e.blockedURI} ` +
    `${e.sourceFile}:${e.lineNumber}`
  );
});
"""


class Watch:
    """The CSP violations a page reports, by event and on the console."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.events: list[str] = []
        self.console: list[str] = []
        self.policies: dict[str, str] = {}
        page.expose_function("cspViolation", self._on_event)
        page.add_init_script(LISTEN)
        page.on("console", self._on_console)
        page.on("response", self._on_response)

    def _on_event(self, violation: str) -> None:
        self.events.append(violation)

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def _on_response(self, response: Any) -> None:
        if response.request.resource_type == "document":
            header = response.headers.get("content-security-policy", "")
            self.policies[response.url] = header

    def violations(self) -> list[str]:
        return [*self.events, *self.console]


def enforced(policy: str) -> bool:
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    return directives.get("script-src") == "'self'" and "unsafe" not in policy


@pytest.fixture
def watched(page: Any) -> Watch:
    return Watch(page)


def test_the_demo_shop_and_its_widget_run_without_a_violation(
    live_stack, watched, page
):
    from recommender.models import Product

    Product.objects.create(
        sku="OUT-901", name="Ridge Tent", category="Outdoor", price="199.00", stock=3
    )

    page.goto(live_stack.url + "/")
    page.get_by_test_id("concierge-launcher").click()
    expect(page.get_by_test_id("concierge-input")).to_be_visible()
    page.goto(live_stack.url + "/products/OUT-901/")
    # The page's own script (a static file now) still runs.
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added to your cart.")).to_be_visible()
    expect(page.get_by_test_id("concierge-launcher")).to_be_visible()

    assert len(watched.policies) == 2
    assert all(enforced(p) for p in watched.policies.values()), watched.policies
    assert watched.violations() == []


def test_the_console_and_the_admin_run_without_a_violation(
    live_stack, watched, page, alice, bob
):
    from django_celery_beat.models import CrontabSchedule

    from chatbot.models import Conversation, Message

    bob.is_superuser = True
    bob.save()
    conversation = Conversation.objects.create(customer=alice, last_seq=1)
    Message.objects.create(conversation=conversation, seq=1, text="=HYPERLINK(1)")
    CrontabSchedule.objects.create(minute="0", hour="4")

    page.goto(live_stack.url + "/admin/login/?next=/console/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "bob-password-123")
    page.click("input[type=submit]")
    expect(page.get_by_test_id("console-connection")).to_have_text("Live")
    for path in [
        "/console/analytics/",
        "/admin/",
        "/admin/chatbot/conversation/",
        f"/admin/chatbot/conversation/{conversation.pk}/change/",
        "/admin/chatbot/message/",
        "/admin/auth/user/add/",
    ]:
        response = page.goto(live_stack.url + path)
        assert response is not None and response.ok, path
    # django-celery-beat's form, whose inline script we replaced: it still works.
    page.goto(live_stack.url + "/admin/django_celery_beat/periodictask/add/")
    page.select_option("#id_crontab", index=1)
    expect(page.locator(".field-crontab .help")).to_contain_text("Translation:")

    assert len(watched.policies) >= 9
    assert all(enforced(p) for p in watched.policies.values()), watched.policies
    assert watched.violations() == []

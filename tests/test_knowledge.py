"""The help centre as the bot searches it: intents linked to articles (set in the
admin, suggested by meaning when missing), the section nearest a question, and
the shop's settings said in articles the way staff set them."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from chatbot.dialogue.decision import Incoming
from chatbot.dialogue.knowledge import (
    Answers,
    article_embed,
    suggest_articles,
    suggest_intents,
)
from chatbot.dialogue.lookups import live_lookups
from chatbot.dialogue.policy import decide
from chatbot.models import Article, ShopSettings
from classifier.models import Intent
from classifier.serving import Classification
from tests.factories import (
    ArticleFactory,
    IntentFactory,
    StaffFactory,
    TrainingExampleFactory,
)
from tests.test_shop_settings import change_form

pytestmark = pytest.mark.django_db

WARRANTY_BODY = """Every product we sell comes with a 2-year warranty from the delivery
date. It covers defects in materials and workmanship, such as a zipper that
breaks under normal use, a sole that comes off or a device that stops working.

The warranty doesn't cover normal wear and tear, damage from accidents or
misuse, or improper care, such as washing a down jacket at high temperatures or
putting cast iron in the dishwasher.

To make a claim, send us your order number, a short description of the problem
and photos of the defect. We repair or replace the item, or refund it."""

SHIPPING_BODY = """Standard shipping within the US takes 3-5 business days and costs
$5.95, or nothing on orders over {shop.free_shipping_threshold}. Express takes 1-2
business days and costs $14.95.

Orders placed before 2 pm on a business day usually leave our warehouse the same
day; later orders ship the next business day. We email you the tracking number
as soon as your parcel is on its way."""


def intent_with(name: str, examples: list[str]) -> Intent:
    intent = IntentFactory.create(name=name)
    for text in examples:
        TrainingExampleFactory.create(intent=intent, text=text)
    return intent


@pytest.fixture
def help_centre(db: Any) -> dict[str, Any]:
    """Two embedded articles and two intents with examples; nothing linked."""
    warranty = ArticleFactory.create(
        title="What does the 2-year warranty cover?",
        slug="warranty",
        body=WARRANTY_BODY,
    )
    shipping = ArticleFactory.create(
        title="How long does shipping take and what does it cost?",
        slug="shipping",
        body=SHIPPING_BODY,
    )
    article_embed(Article.objects.all())
    return {
        "warranty": Article.objects.get(pk=warranty.pk),
        "shipping": Article.objects.get(pk=shipping.pk),
        "warranty_intent": intent_with(
            "warranty",
            [
                "my headphones broke after 6 months is that covered",
                "the zipper on my jacket snapped, warranty?",
                "how long is the warranty",
                "sole came off my boots after a few months",
            ],
        ),
        "shipping_intent": intent_with(
            "shipping_time",
            [
                "how long does delivery take",
                "when will my parcel arrive if I order today",
                "do you ship on weekends",
                "how many days is express shipping",
            ],
        ),
    }


def test_an_article_links_to_the_intents_it_answers_and_back(help_centre):
    article, intent = help_centre["warranty"], help_centre["warranty_intent"]
    article.intents.add(intent)
    assert list(intent.articles.all()) == [article]
    hidden = ArticleFactory.create(title="Old warranty terms", published=False)
    hidden.intents.add(intent)
    assert Answers().linked_articles("warranty") == [article]
    assert Answers().linked_articles("shipping_time") == []


def test_it_quotes_the_section_of_a_linked_article_nearest_the_question(
    help_centre,
):
    passage = Answers().find_passage(
        "does the warranty cover washing damage", among=[help_centre["warranty"]]
    )
    assert passage is not None and passage.fits
    assert passage.article == help_centre["warranty"]
    assert passage.section.text.startswith("The warranty doesn't cover")


def test_a_question_of_another_topic_does_not_fit_a_linked_article(help_centre):
    passage = Answers().find_passage(
        "how much is express shipping", among=[help_centre["warranty"]]
    )
    assert passage is not None and not passage.fits
    anywhere = Answers().find_passage("how much is express shipping", among=None)
    assert anywhere is not None and anywhere.fits
    assert anywhere.article == help_centre["shipping"]
    unrelated = Answers().find_passage("who won the world cup in 2010", among=None)
    assert unrelated is not None and not unrelated.fits


def test_it_suggests_the_nearest_articles_and_intents_by_meaning(help_centre):
    suggested = suggest_articles(help_centre["warranty_intent"])
    assert suggested[0][0] == help_centre["warranty"]
    intents = suggest_intents(help_centre["shipping"])
    assert intents[0][0] == help_centre["shipping_intent"]


def test_link_articles_reports_and_applies_the_suggestions(help_centre):
    out = StringIO()
    call_command("link_articles", "--suggest", stdout=out)
    assert "warranty: What does the 2-year warranty cover?" in out.getvalue()
    assert not help_centre["warranty"].intents.exists()
    call_command("link_articles", "--apply", "--min-similarity", "0.3", stdout=out)
    assert list(help_centre["warranty"].intents.all()) == [
        help_centre["warranty_intent"]
    ]
    assert list(help_centre["shipping"].intents.all()) == [
        help_centre["shipping_intent"]
    ]
    again = StringIO()
    call_command("link_articles", stdout=again)
    assert "Every intent answered from the help centre has an article" in (
        again.getvalue()
    )


@pytest.fixture
def superbob(bob: Any) -> Any:
    bob.is_superuser = True
    bob.save()
    return bob


def test_the_article_page_suggests_intents_and_links_one_in_a_click(
    client, superbob, help_centre
):
    client.force_login(superbob)
    article, intent = help_centre["shipping"], help_centre["shipping_intent"]
    page = client.get(
        reverse("admin:chatbot_article_change", args=[article.pk]), secure=True
    )
    html = page.content.decode()
    assert "suggested intents" in html.lower()
    assert f'value="{article.pk}:{intent.pk}">Link</button>' in html
    linked = client.post(
        reverse("admin:chatbot_article_link") + "?back=article",
        {"link": f"{article.pk}:{intent.pk}", "title": "ignored"},
        secure=True,
    )
    assert linked.status_code == 302
    assert linked["Location"] == reverse(
        "admin:chatbot_article_change", args=[article.pk]
    )
    assert list(article.intents.all()) == [intent]
    article.refresh_from_db()
    assert article.title == "How long does shipping take and what does it cost?"


def test_the_intent_page_shows_its_articles_and_suggests_one(
    client, superbob, help_centre
):
    client.force_login(superbob)
    intent, article = help_centre["warranty_intent"], help_centre["warranty"]
    url = reverse("admin:classifier_intent_change", args=[intent.pk])
    html = client.get(url, secure=True).content.decode()
    assert "articles answering it" in html.lower()
    assert f'value="{article.pk}:{intent.pk}">Link</button>' in html
    linked = client.post(
        reverse("admin:chatbot_article_link") + "?back=intent",
        {"link": f"{article.pk}:{intent.pk}"},
        secure=True,
    )
    assert linked["Location"] == url
    html = client.get(url, secure=True).content.decode()
    assert f'value="{article.pk}:{intent.pk}">Link</button>' not in html


def test_only_staff_who_may_change_articles_link_them(client, help_centre):
    article, intent = help_centre["warranty"], help_centre["warranty_intent"]
    viewer = StaffFactory.create(username="dave", permissions=["chatbot.view_article"])
    client.force_login(viewer)
    refused = client.post(
        reverse("admin:chatbot_article_link"),
        {"link": f"{article.pk}:{intent.pk}"},
        secure=True,
    )
    assert refused.status_code == 403
    assert not article.intents.exists()


def reading(intent: str) -> Classification:
    return Classification(
        intent=intent,
        confidence=0.99,
        top_k=[(intent, 0.99), ("greeting", 0.005)],
        out_of_scope=False,
        model_version_id=0,
        model_version="",
    )


def test_a_setting_changed_in_the_admin_changes_the_answer(
    client, superbob, help_centre
):
    help_centre["shipping"].intents.add(help_centre["shipping_intent"])
    question = "is shipping free over a certain amount?"

    def answer() -> str:
        decision = decide(
            Incoming(text=question),
            reading("shipping_time"),
            state={},
            lookups=live_lookups(),
        )
        return decision.reply.text

    assert "nothing on orders over $75" in answer()
    client.force_login(superbob)
    saved = client.post(
        reverse("admin:chatbot_shopsettings_change", args=[ShopSettings.load().pk]),
        change_form(currency="EUR", free_shipping_threshold="80"),
        secure=True,
    )
    assert saved.status_code == 302
    assert "nothing on orders over €80" in answer()
    page = client.get("/help/shipping/", secure=True).content.decode()
    assert "over €80" in page and "{shop." not in page


def test_the_lead_section_answers_a_question_it_nearly_ties(db):
    # The answer-first paragraph (delivery times) against the one on when the
    # counting starts: nearly as close to the words, but not the answer.
    body = (
        "Standard shipping within the US takes 3-5 business days. Express shipping\n"
        "takes 1-2 business days, and next-day shipping arrives on the next business\n"
        "day if you order by 12:00 ET, Monday to Friday.\n\n"
        "Delivery times are counted from the day your order ships, not the day you\n"
        "place it. Orders placed before 14:00 ET on a business day usually ship the\n"
        "same day; later orders ship the next business day. We don't ship on\n"
        "weekends or US public holidays.\n\n"
        "International standard shipping takes 7-14 business days and international\n"
        "express takes 3-5 business days, plus any time your parcel spends in\n"
        "customs.\n"
    )
    shipping = ArticleFactory.create(title="How long does shipping take?", body=body)
    passage = Answers().find_passage(
        "how long does delivery take to texas", among=[shipping]
    )
    assert passage is not None
    assert passage.section.text.startswith("Standard shipping within the US")

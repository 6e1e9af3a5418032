"""A handful of the dialogue test set's conversations, played by its runner over
real websockets against a real server and worker (``evaluate_dialogue`` plays them
all; see docs/dialogue-tests.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from benchmarks.dialogue import driver, report
from benchmarks.dialogue.stack import shop_controls
from benchmarks.dialogue.stories import Shop, load
from chatbot.models import AgentPresence

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parent.parent
# One per kind of action, a click and both agent states; none of the issue's
# open classes, so the subset holds on today's bot as well as tomorrow's.
SUBSET = [
    "greeting-plain",
    "tracking-shipped",
    "cancel-placed-asks-to-confirm",
    "shipping-time",
    "recommend-skincare",
    "oos-weather",
    "person-online-queue",
    "person-offline-email",
]


@pytest.fixture
def shop(live_stack: Any, active_intent_model: Any) -> Any:
    return live_stack


def test_representative_conversations_pass_over_real_websockets(shop: Any) -> None:
    stories = {s.id: s for s in load([BASE_DIR / "tests" / "dialogue"])}
    results = driver.run(
        [stories[i] for i in SUBSET],
        url=shop.url,
        shop=Shop.from_catalog(BASE_DIR / "recommender" / "demo" / "catalog.jsonl"),
        controls=shop_controls(str(settings.REDIS_URL)),
    )
    failed = ["\n".join(report.failure_lines(r)) for r in results if not r.passed]
    assert not failed, "\n\n".join(failed)
    assert [r.transcript[-1]["action"] for r in results] == [
        "say",
        "form",
        "form",
        "answer",
        "recommend",
        "fallback",
        "handoff",
        "handoff",
    ]


def test_a_story_sets_how_many_agents_are_online(shop: Any) -> None:
    from benchmarks.dialogue.stack import set_agents_online

    set_agents_online(2)
    assert AgentPresence.objects.count() == 2
    set_agents_online(0)
    from chatbot.selectors import agents_online

    assert agents_online() == 0


def test_a_failing_check_fails_the_story_with_its_transcript(shop: Any) -> None:
    story = load([BASE_DIR / "tests" / "dialogue"])[0]
    wrong = type(story)(
        id="wrong",
        category="test",
        turns=(
            type(story.turns[0])(
                customer="hello", expect={"action": "recommend", "cards": {"min": 1}}
            ),
        ),
    )
    [result] = driver.run(
        [wrong],
        url=shop.url,
        shop=Shop(),
        controls=shop_controls(str(settings.REDIS_URL)),
    )
    assert not result.passed
    assert [f["check"] for f in result.failures] == [
        "action: expected recommend, got say",
        "cards: expected at least 1, got 0",
    ]
    assert result.transcript[0]["customer"] == "hello"
    assert result.transcript[0]["bot"]

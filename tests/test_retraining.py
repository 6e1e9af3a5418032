"""The retraining loop: what a run trains on, how it is judged, what it records."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.core.management import call_command

from classifier import tasks
from classifier.models import TrainingExample
from classifier.training import training_set_build
from ml.models import GoldenSet, ModelVersion, TrainingRun
from tests.factories import (
    IntentFactory,
    StaffFactory,
    TrainingExampleFactory,
)
from tests.test_intent_model import OOS, SMALL

pytestmark = pytest.mark.django_db

# Written apart from the training examples: what every candidate is measured on.
GOLDEN = {
    "order_status": [
        "any news on the order i placed yesterday",
        "has my order been dispatched",
        "is my purchase confirmed",
        "what's happening with my order",
        "did you receive my order",
        "my order still says processing",
        "update on my order please",
        "when will my order be sent out",
        "has anyone looked at my order",
        "check on my order for me",
    ],
    "return_item": [
        "how can i send these trousers back",
        "i'd like to return a gift",
        "can i exchange this for another size",
        "what's your return process",
        "returning my sweater, how",
        "i want to give back the lamp i bought",
        "do you take returns on sale items",
        "need to return two things",
        "can i bring back an item i bought",
        "how do returns work here",
    ],
    "greeting": [
        "hey hey",
        "hello there!",
        "hi, good evening",
        "yo, hello",
        "heya",
        "good day to you",
        "hi friend",
        "hello hello",
        "hey, morning",
        "hi all",
    ],
}
GOLDEN_OOS = [
    "what's the tallest building in the world",
    "how do i make pancakes",
    "who painted the mona lisa",
    "what is 9 squared",
    "will it rain tomorrow",
]
# A reviewer who files order questions under returns, 200 times.
STEMS = [
    "where is my order",
    "has my order shipped",
    "did my order go out",
    "what's the status of my order",
    "is my order on its way",
    "when does my order arrive",
    "my order hasn't arrived",
    "any update on my order",
    "order status please",
    "has my parcel left",
]
TAILS = [
    "",
    " please",
    " today",
    " yet?",
    " from last week",
    ", it's been days",
    " number 4411",
    " i'm waiting",
    " asap",
    " thanks",
    " for my mum",
    " (the blue jacket)",
    " ??",
    " - ordered monday",
    " i paid express",
    " still nothing",
    " hello?",
    " it was a gift",
    " order 9982",
    " can you check",
]


@pytest.fixture(autouse=True)
def models_in_tmp(settings: Any, tmp_path: Any) -> None:
    settings.MODEL_DIR = tmp_path / "models"
    settings.INTENT_FINETUNE_EPOCHS = 0


@pytest.fixture
def shop_examples(db: Any) -> dict[str, Any]:
    """Seed examples to train on and a golden set to be judged by."""
    intents = {name: IntentFactory.create(name=name) for name in SMALL}
    for name, texts in SMALL.items():
        for text in texts:
            TrainingExampleFactory.create(text=text, intent=intents[name])
    for text in OOS:
        TrainingExampleFactory.create(text=text, intent=None)
    for name, texts in GOLDEN.items():
        for text in texts:
            TrainingExampleFactory.create(text=text, intent=intents[name], golden=True)
    for text in GOLDEN_OOS:
        TrainingExampleFactory.create(text=text, intent=None, golden=True)
    return intents


@pytest.fixture
def active_version(
    shop_examples: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> ModelVersion:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_intents", "--epochs", "0", "--activate", verbosity=0)
    return ModelVersion.objects.get(status="active")


def review(
    text: str, intent: Any, reviewer: Any, conversation_id: int | None = None
) -> TrainingExample:
    return TrainingExampleFactory.create(
        text=text,
        intent=intent,
        source=TrainingExample.Source.REVIEW,
        added_by=reviewer,
        conversation_id=conversation_id,
    )


def test_a_poisoned_batch_from_one_reviewer_leaves_the_active_model_and_says_why(
    active_version: ModelVersion,
    shop_examples: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    mallory = StaffFactory.create(username="mallory")
    poison = [stem + tail for stem in STEMS for tail in TAILS]
    assert len(set(poison)) == 200
    for text in poison:
        review(text, shop_examples["return_item"], mallory)

    with django_capture_on_commit_callbacks(execute=True):
        candidate_id = tasks.train_intents()  # as beat starts it: no arguments

    active_version.refresh_from_db()
    candidate = ModelVersion.objects.get(pk=candidate_id)
    assert active_version.status == "active"
    assert candidate.status == "rejected"
    run = TrainingRun.objects.get(version=candidate)
    assert (run.trigger, run.outcome) == ("schedule", "rejected")
    # The gate names what the batch broke…
    assert "recall dropped for order_status" in run.reason
    assert candidate.metrics["verdict"]["reason"] == run.reason
    # …and the snapshot what the caps kept out: one reviewer moves at most
    # RETRAIN_MAX_PER_REVIEWER examples into a training set.
    snapshot = run.snapshot
    assert snapshot["by_source"]["review"] <= 100
    assert snapshot["left_out"]["over_reviewer_cap"] > 0
    assert snapshot["capped_reviewers"] == {
        "mallory": snapshot["left_out"]["over_reviewer_cap"]
    }
    # The newest fifth of the batch is held out (less the few the conflict check
    # caught: "where is my order" is an order_status seed example).
    conflicting = TrainingExample.objects.filter(
        added_by=mallory, conflict__isnull=False
    ).count()
    assert snapshot["left_out"]["holdout"] == math.ceil((200 - conflicting) * 0.2)


def test_the_per_conversation_cap_keeps_the_newest_examples_of_one_chat(
    shop_examples: dict[str, Any], settings: Any
) -> None:
    settings.RETRAIN_HOLDOUT_PERCENT = 0
    bob = StaffFactory.create(username="bob")
    texts = [f"hello, it's me again about order {n}" for n in range(8)]
    rows = [
        review(text, shop_examples["greeting"], bob, conversation_id=7)
        for text in texts
    ]
    data = training_set_build()
    trained = {e.pk for e in data.train}
    assert [r.pk in trained for r in rows] == [False] * 3 + [True] * 5
    assert data.snapshot["left_out"]["over_conversation_cap"] == 3


def test_the_hold_out_rotates_into_training_at_the_next_run(
    shop_examples: dict[str, Any],
) -> None:
    bob = StaffFactory.create(username="bob")
    first = [
        review(f"where's order {n}", shop_examples["order_status"], bob, n)
        for n in range(10)
    ]
    data = training_set_build()
    held = {e.pk for e in data.holdout}
    assert held == {first[-1].pk, first[-2].pk}  # the newest 20 %
    assert not held & {e.pk for e in data.train}
    TrainingRun.objects.create(
        kind="intent",
        trigger="schedule",
        outcome="rejected",
        snapshot=data.snapshot,
        finished=data_finished(),
    )
    second = [
        review(f"is order {n} packed", shop_examples["order_status"], bob, 100 + n)
        for n in range(5)
    ]
    data = training_set_build()
    assert {e.pk for e in data.holdout} == {second[-1].pk}
    # What the first run held out, the second trains on.
    assert held <= {e.pk for e in data.train}


def data_finished() -> Any:
    from django.utils import timezone

    return timezone.now()


def test_same_and_nearly_same_texts_with_other_labels_are_flagged_not_trained(
    shop_examples: dict[str, Any], settings: Any
) -> None:
    settings.RETRAIN_HOLDOUT_PERCENT = 0
    bob = StaffFactory.create(username="bob")
    # SMALL labels "where is my order" order_status; a reviewer said otherwise.
    exact = review("Where is my order??", shop_examples["return_item"], bob)
    near = review("where's my order", shop_examples["greeting"], bob)  # cos 0.95
    data = training_set_build()
    trained = {e.pk for e in data.train}
    original = TrainingExample.objects.get(text="where is my order")
    assert not {exact.pk, near.pk, original.pk} & trained
    flagged = set(TrainingExample.objects.filter(conflict__isnull=False))
    assert {exact, near, original} <= flagged
    assert data.snapshot["left_out"]["conflicts"] == len(flagged)
    # Fixing the label clears the conflict at the next run.
    near.intent = exact.intent = shop_examples["order_status"]
    near.save()
    exact.save()
    data = training_set_build()
    assert {exact.pk, near.pk, original.pk} <= {e.pk for e in data.train}
    assert not TrainingExample.objects.filter(conflict__isnull=False).exists()


def test_the_first_run_freezes_the_golden_set_and_only_an_operator_changes_it(
    active_version: ModelVersion, shop_examples: dict[str, Any], admin_client: Any
) -> None:
    golden = GoldenSet.objects.get(kind="intent")
    assert golden.version == 1
    assert active_version.metrics["golden"]["examples"] == 35
    new = TrainingExampleFactory.create(
        text="hiya there", intent=shop_examples["greeting"]
    )
    response = admin_client.post(
        "/admin/classifier/trainingexample/",
        {"action": "add_to_golden_set", "_selected_action": [new.pk]},
        follow=True,
        secure=True,
    )
    assert "now version 2" in str(list(response.context["messages"]))
    new.refresh_from_db()
    golden.refresh_from_db()
    assert new.golden and golden.version == 2
    data = training_set_build()
    assert new.pk not in {e.pk for e in data.train}
    assert data.snapshot["golden"] == {"version": 2, "examples": 36}
    listed = admin_client.get(
        "/admin/classifier/trainingexample/?golden__exact=1", secure=True
    )
    assert "hiya there" in listed.content.decode()


def test_train_intents_shows_the_runs_progress_in_the_terminal(
    shop_examples: dict[str, Any], capsys: Any
) -> None:
    call_command("train_intents", "--epochs", "0")
    out, err = capsys.readouterr()
    for stage in ("Reading the examples", "Training", "Scoring", "Registering"):
        assert stage in err
    assert "100/100" in err
    run = TrainingRun.objects.get()
    assert f"(run #{run.pk})" in out
    assert "golden macro-F1" in out


def test_deleting_a_golden_example_bumps_the_golden_sets_version(
    shop_examples: dict[str, Any],
) -> None:
    training_set_build()  # the first run freezes the set
    TrainingExample.objects.filter(text="hi friend").delete()  # e.g. an erasure
    golden = GoldenSet.objects.get(kind="intent")
    assert golden.version == 2
    assert "hi friend" in golden.note
    TrainingExample.objects.filter(text="hello", golden=False).delete()
    golden.refresh_from_db()
    assert golden.version == 2

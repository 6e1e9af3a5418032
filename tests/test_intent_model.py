"""Training, evaluating and serving the intent model through its commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from classifier.models import TrainingExample
from classifier.serving import classify, live_model
from ml.models import ModelVersion, TrainingRun
from tests.factories import IntentFactory, TrainingExampleFactory

pytestmark = pytest.mark.django_db

SMALL = {
    "order_status": [
        "where is my order",
        "has my order shipped yet",
        "when will my order arrive",
        "what's the status of my order",
        "is my package on the way",
        "my order hasn't come",
        "check my order status please",
        "order status",
        "did you send my order",
        "how is my order doing",
        "track the order i placed",
        "when does my purchase get here",
    ],
    "return_item": [
        "i want to return this",
        "how do i send an item back",
        "return a jacket",
        "can i return my shoes",
        "start a return",
        "i'd like to return my order",
        "return policy for items",
        "send back a product",
        "i need to make a return",
        "how to return something",
        "returning an item i bought",
        "return these boots",
    ],
    "greeting": [
        "hi",
        "hello",
        "hey there",
        "good morning",
        "hi there",
        "hello!",
        "good afternoon",
        "hey",
        "greetings",
        "hiya",
        "morning!",
        "howdy",
    ],
}
OOS = [
    "what is the capital of peru",
    "tell me a joke",
    "how tall is mount everest",
    "what's the weather tomorrow",
    "who won the game last night",
    "play some music",
    "how do i bake bread",
    "translate hello into french",
    "what is 12 times 7",
    "book me a flight to rome",
    "what's my bank balance",
    "recommend a movie",
]


@pytest.fixture
def small_examples(db):
    for name, texts in SMALL.items():
        intent = IntentFactory.create(name=name)
        for text in texts:
            TrainingExampleFactory.create(text=text, intent=intent, source="seed")
    for text in OOS:
        TrainingExampleFactory.create(text=text, intent=None, source="seed")


@pytest.fixture(autouse=True)
def models_in_tmp(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    live_model.reset()


def test_train_intents_registers_a_candidate_scored_on_a_frozen_golden_set(
    small_examples,
):
    call_command("train_intents", "--epochs", "0", verbosity=0)
    version = ModelVersion.objects.get()
    assert version.status == "candidate"
    assert 0.0 <= version.metrics["accuracy"] <= 1.0
    golden = TrainingExample.objects.filter(golden=True)
    # A third of each label's 12 examples at most: 4 per label, never trained on.
    assert golden.count() == 16
    assert version.metrics["golden"]["examples"] == 16
    assert version.trained_on["train"] == 48 - 16
    run = TrainingRun.objects.get()
    assert (run.trigger, run.outcome, run.version) == ("command", "registered", version)
    assert run.percent == 100 and run.finished is not None
    assert "not activated" in run.reason
    assert classify("where is my order") is None  # nothing active yet
    # The golden set is frozen: a second run measures on the same examples.
    call_command("train_intents", "--epochs", "0", verbosity=0)
    assert set(TrainingExample.objects.filter(golden=True)) == set(golden)


def test_a_fine_tuned_ensemble_is_registered_and_served_from_the_registry(
    small_examples, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_intents", "--epochs", "1", "--ensemble", "2", "--activate")
    version = ModelVersion.objects.get(status="active")
    artifact = Path(version.artifact_path)
    assert (artifact / "encoders/0/model.safetensors").is_file()
    assert (artifact / "encoders/1/model.safetensors").is_file()
    result = classify("has my order shipped yet")
    assert result is not None and result.model_version_id == version.pk
    assert live_model.get()[1].ensemble_size == 2  # type: ignore[index]


def test_activate_puts_the_model_live_and_classify_serves_it(
    small_examples, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_intents", "--epochs", "0", "--activate", verbosity=0)
    version = ModelVersion.objects.get(status="active")
    result = classify("has my order shipped yet")
    assert result is not None
    assert result.intent == "order_status"
    assert not result.out_of_scope
    assert result.model_version_id == version.pk
    assert [name for name, _ in result.top_k][:1] == ["order_status"]
    probabilities = [p for _, p in result.top_k]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < result.confidence <= 1 and sum(probabilities) <= 1.0001


def test_a_message_like_the_out_of_scope_examples_is_flagged(
    small_examples, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_intents", "--epochs", "0", "--activate", verbosity=0)
    flagged = classify("tell me a joke")
    kept = classify("hello")
    assert flagged is not None and flagged.out_of_scope and flagged.intent == "oos"
    assert kept is not None and not kept.out_of_scope and kept.intent == "greeting"


def test_training_needs_two_intents_and_registers_nothing_otherwise(db):
    TrainingExampleFactory.create(text="hi", intent__name="greeting", source="seed")
    with pytest.raises(CommandError, match="at least 2 are needed"):
        call_command("train_intents", "--epochs", "0")
    assert not ModelVersion.objects.exists()


# --- evaluate_intents ---------------------------------------------------------------


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["text,intent"] + [f'"{text}",{label}' for text, label in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def evaluate_args(train: Path, test: Path, out: Path) -> list[str]:
    return ["--train", str(train), "--test", str(test), "--json", str(out)]


@pytest.fixture
def csv_files(tmp_path):
    rows = [(t, name) for name, texts in SMALL.items() for t in texts]
    train = write_csv(
        tmp_path / "train.csv", rows[::2] + [(t, "oos") for t in OOS[::2]]
    )
    test = write_csv(
        tmp_path / "test.csv", rows[1::2] + [(t, "oos") for t in OOS[1::2]]
    )
    return train, test


def test_evaluate_intents_writes_metrics_and_plots_and_leaves_the_registry_alone(
    db, csv_files, tmp_path
):
    train, test = csv_files
    out = tmp_path / "results" / "small.json"
    call_command(
        "evaluate_intents",
        *evaluate_args(train, test, out),
        "--epochs",
        "0",
        verbosity=0,
    )
    result = json.loads(out.read_text())
    for key in (
        "accuracy",
        "macro_f1",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "n_train",
        "n_test",
        "train_seconds",
        "predict_ms_p50",
    ):
        assert key in result, key
    assert result["n_test"] == 24
    assert result["accuracy"] > 0.5
    assert (tmp_path / "results" / "small.confusion.png").stat().st_size > 1000
    assert (tmp_path / "results" / "small.reliability.png").stat().st_size > 1000
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("which", "content", "error"),
    [
        ("train", b"", r"train\.csv: the file is empty"),
        ("train", b"hello,greeting\n", r"train\.csv:1: expected the header"),
        ("train", b"text,intent,extra\nhi,greeting,x\n", r"unknown columns: extra"),
        (
            "test",
            b"text,intent\nhi,greeting\nrefund please,refund\n",
            r"test\.csv:3: intent 'refund' never appears in .*train\.csv",
        ),
        (
            "train",
            b"text,intent\nhi,greeting\nhello,greeting\n",
            r"train\.csv: 1 in-scope intent\(s\)",
        ),
        (
            "test",
            b"text,intent\nhi,greeting\n\xff\xfe,greeting\n",
            r"test\.csv:3: not UTF-8",
        ),
    ],
)
def test_evaluate_intents_names_the_file_and_line_of_bad_input(
    db, csv_files, which, content, error
):
    train, test = csv_files
    {"train": train, "test": test}[which].write_bytes(content)
    with pytest.raises(CommandError, match=error):
        call_command(
            "evaluate_intents",
            *evaluate_args(train, test, train.parent / "out.json"),
            "--epochs",
            "0",
        )
    assert not (train.parent / "out.json").exists()
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("option", "value"), [("--ensemble", "0"), ("--epochs", "-1"), ("--ensemble", "x")]
)
def test_training_options_out_of_range_are_refused_before_training(
    db, csv_files, option, value
):
    train, test = csv_files
    out = train.parent / "out.json"
    args = evaluate_args(train, test, out)
    with pytest.raises(CommandError, match=f"argument {option}: expected a whole"):
        call_command("evaluate_intents", *args, option, value)
    with pytest.raises(CommandError, match=f"argument {option}: expected a whole"):
        call_command("train_intents", option, value)
    assert not out.exists()
    assert not ModelVersion.objects.exists()

"""Intents and examples: import, export, and the errors a bad file gets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from classifier import datasets
from classifier.models import Intent, TrainingExample

YAML = """\
intents:
  - name: order_status
    description: Where an order is.
    examples: ["where is my order", "has my order shipped"]
  - name: greeting
    description: Saying hello.
    examples: ["hi there", "good morning"]
oos: ["what is the capital of peru"]
"""


@pytest.fixture
def intents_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "intents.yaml"
    path.write_text(YAML)
    return path


def test_it_imports_yaml_with_descriptions_and_out_of_scope_examples(db, intents_yaml):
    call_command("import_intents", str(intents_yaml), "--source", "seed")
    assert dict(Intent.objects.values_list("name", "description")) == {
        "order_status": "Where an order is.",
        "greeting": "Saying hello.",
    }
    assert sorted(TrainingExample.objects.labelled()) == sorted(
        [
            ("where is my order", "order_status"),
            ("has my order shipped", "order_status"),
            ("hi there", "greeting"),
            ("good morning", "greeting"),
            ("what is the capital of peru", "oos"),
        ]
    )
    assert set(TrainingExample.objects.values_list("source", flat=True)) == {"seed"}


def test_it_skips_examples_it_already_has_on_a_second_import(db, intents_yaml):
    call_command("import_intents", str(intents_yaml))
    call_command("import_intents", str(intents_yaml))
    assert TrainingExample.objects.count() == 5


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
def test_export_then_import_round_trips(db, intents_yaml, tmp_path, suffix):
    call_command("import_intents", str(intents_yaml))
    before = sorted(TrainingExample.objects.labelled())
    exported = tmp_path / f"export{suffix}"
    call_command("export_intents", str(exported))
    TrainingExample.objects.all().delete()
    Intent.objects.all().delete()
    call_command("import_intents", str(exported))
    assert sorted(TrainingExample.objects.labelled()) == before


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", r"bad\.csv: the file is empty"),
        (b"where is my order,order_status\n", r"bad\.csv:1: expected the header"),
        (b"text,label\nhi,greeting\n", r"bad\.csv:1: expected the header"),
        (b"text,intent\n", r"bad\.csv: no rows after the header"),
        (b"text,intent\nhi,greeting\nbye,goodbye,extra\n", r"bad\.csv:3: expected 2"),
        (b"text,intent\nhi,greeting\n,greeting\n", r"bad\.csv:3: the text is empty"),
        (b"text,intent\nhi,greeting\ncaf\xe9,greeting\n", r"bad\.csv:3: not UTF-8"),
    ],
)
def test_it_names_the_file_and_line_of_a_bad_csv_and_imports_nothing(
    db, tmp_path, content, error
):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=error):
        call_command("import_intents", str(path))
    assert not TrainingExample.objects.exists()
    assert not Intent.objects.exists()


def test_it_refuses_yaml_with_unknown_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("intents: []\nexamples: []\n")
    with pytest.raises(datasets.DatasetError, match="unknown keys"):
        datasets.read(path)


def test_every_demo_intent_has_ten_golden_examples_it_never_trains_on():
    demo = Path(__file__).resolve().parent.parent / "classifier" / "demo"
    training = yaml.safe_load((demo / "intents.yaml").read_text())
    golden = yaml.safe_load((demo / "golden.yaml").read_text())
    counts = {i["name"]: len(i["examples"]) for i in golden["intents"]}
    assert {i["name"] for i in training["intents"]} <= counts.keys()
    assert min(counts.values()) >= 10
    trained = {e.lower() for i in training["intents"] for e in i["examples"]} | {
        e.lower() for e in training.get("oos", [])
    }
    shared = [
        e for i in golden["intents"] for e in i["examples"] if e.lower() in trained
    ]
    assert shared == []

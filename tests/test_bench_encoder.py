"""``bench_encoder`` on tiny settings: the figures are produced and consistent."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from benchmarks.encoder import SAMPLE, pass_flops
from classifier.datasets import read_csv_lines

TINY = {
    "runs": 4,
    "warmup": 1,
    "batch_size": 4,
    "batched_messages": 8,
    "matmul_n": 64,
    "matmul_repeats": 2,
    "verbosity": 0,
}


def test_the_sample_names_only_intents_of_the_demo_shop():
    from pathlib import Path

    from classifier import datasets

    demo = datasets.read(Path(__file__).parent.parent / "classifier/demo/intents.yaml")
    known = {label for _, label in demo.examples}
    rows = read_csv_lines(SAMPLE)
    assert len(rows) >= 60
    assert {label for _, label, _ in rows} <= known
    # Our own sentences, not the training examples the model learned from.
    assert not {text.lower() for text, _, _ in rows} & {
        text.lower() for text, _ in demo.examples
    }


def test_a_pass_costs_what_the_matrices_of_minilm_cost():
    # 19 tokens through all-MiniLM-L6-v2: ~0.41 GFLOP, ~1.8 ms at 228 GFLOP/s.
    flops = pass_flops(layers=6, hidden=384, intermediate=1536, tokens=19)
    assert 0.40e9 < flops < 0.42e9


def test_it_measures_the_active_classifier_against_the_peak(
    active_intent_model, settings, tmp_path
):
    settings.TORCH_THREADS = 1
    out = tmp_path / "results" / "encoder.json"
    call_command("bench_encoder", json=str(out), **TINY)
    result = json.loads(out.read_text())

    assert result["model_version"] == f"v{active_intent_model.version}"
    assert result["threads"] == 1
    assert result["peak_gflops"] > 0
    assert result["n_sample"] == len(read_csv_lines(SAMPLE))
    assert result["encoder"] == {"layers": 6, "hidden": 384, "intermediate": 1536}
    assert result["encoder_passes"] == 1  # the test model is one frozen member
    expected_floor = result["pass_gflop"] / result["peak_gflops"] * 1000
    assert result["floor_ms"] == pytest.approx(expected_floor, rel=0.01)

    served = result["paths"][result["served_path"]]
    assert 0 < served["p50_ms"] <= served["p95_ms"]
    assert served["latency_over_floor"] == pytest.approx(
        served["p50_ms"] / result["floor_ms"], rel=0.01
    )
    assert served["roofline_efficiency"] == pytest.approx(
        served["batched_gflops"] / result["peak_gflops"], rel=0.01, abs=1e-4
    )
    assert served["batched_messages_per_s"] > 0
    # The frozen demo model knows these intents: far above chance (1 in 30).
    assert 0.5 < served["accuracy"] <= 1
    assert result["latency_over_floor"] == served["latency_over_floor"]
    # Both runtimes, side by side, the plain one first: the fast one is checked
    # against it.
    assert list(result["paths"]) == ["torch", "onnx"]
    assert result["served_path"] == "torch"
    assert result["paths"]["onnx"]["accuracy_change"] == pytest.approx(0, abs=0.02)
    for figures in result["paths"].values():
        assert 0 <= figures["accuracy"] <= 1


def test_it_reads_another_labelled_file_and_refuses_a_missing_one(
    active_intent_model, tmp_path
):
    data = tmp_path / "mine.csv"
    data.write_text("text,intent\nwhere is my parcel,track_order\nhi,greeting\n")
    out = tmp_path / "encoder.json"
    call_command(
        "bench_encoder", json=str(out), data=str(data), torch_only=True, **TINY
    )
    assert json.loads(out.read_text())["n_sample"] == 2

    with pytest.raises(CommandError, match=r"nope\.csv"):
        call_command(
            "bench_encoder",
            json=str(out),
            data=str(tmp_path / "nope.csv"),
            torch_only=True,
            **TINY,
        )


def test_it_says_what_to_do_without_an_active_model(db, tmp_path):
    with pytest.raises(CommandError, match="no active intent model"):
        call_command("bench_encoder", json=str(tmp_path / "x.json"), **TINY)

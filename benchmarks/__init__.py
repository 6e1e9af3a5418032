"""Benchmarks of the model apps on public data sets: data-file readers, baselines,
plots and the runners behind ``evaluate_intents`` and ``evaluate_recommender``.

Installed with the project; its third-party needs are the ``bench`` extra. Nothing
that serves customers imports it.
"""

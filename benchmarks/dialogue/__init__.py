"""The dialogue test set's runner: ``manage.py evaluate_dialogue`` (stories in
tests/dialogue/*.yaml, format in docs/dialogue-tests.md)."""

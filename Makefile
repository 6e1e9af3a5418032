# Concierge — `make run` serves the whole stack, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck check bench bench-encoder bench-chat bench-dialogue \
	bench-intents bench-recommender browser-deps clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Re-installs only when pyproject.toml changes. torch is pinned and installed first so
# that no dependency can pull a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $@

run: $(VENV)/.installed
	DEBUG=$${DEBUG:-1} $(PY) -m devserver.run

# Browser tests drive Debian's chromium; install it when it is missing and we may.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)); \
	  else echo "warning: /usr/bin/chromium is missing; browser tests will fail"; fi; \
	fi

test: $(VENV)/.installed browser-deps
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# django-stubs imports the settings; give them development values.
typecheck: $(VENV)/.installed
	DEBUG=1 DATABASE_URL=postgres://typecheck@localhost/x REDIS_URL=redis://localhost/0 \
	  $(BIN)/mypy .

check: lint typecheck test

# Benchmarks on ../shared/data (not part of `make test`): the commands run the
# benchmarks package, whose needs are the bench extra (part of dev). DEBUG=1 lets
# manage.py start the embedded services it needs.
DATA ?= ../shared/data
bench-intents: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py evaluate_intents --train $(DATA)/intents/banking77/train.csv \
	  --test $(DATA)/intents/banking77/test.csv --json benchmarks/results/banking77.json
	DEBUG=1 $(PY) manage.py evaluate_intents --train $(DATA)/intents/clinc150/train.csv \
	  --val $(DATA)/intents/clinc150/val.csv \
	  --test $(DATA)/intents/clinc150/test.csv --json benchmarks/results/clinc150.json

bench-recommender: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py evaluate_recommender \
	  --items $(DATA)/recsys/amazon-office/items.jsonl \
	  --interactions $(DATA)/recsys/amazon-office/interactions.csv \
	  --json benchmarks/results/recsys_amazon_office.json

# Every benchmark that runs on the project's own data, one line each. The dialogue
# stories play against a stack of their own (fresh database, the demo shop); the
# held-out stories are reported on their own. DIALOGUE_TRAINING: how the demo intent
# model is trained for them (--epochs 0: the frozen encoder with a trained head, a
# minute or two; empty: as `make run` trains it, with fine-tuning, much longer on a
# CPU); the trained model is cached in .data/dialogue-bench/.
DIALOGUE_TRAINING ?= --epochs 0
bench-dialogue: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py evaluate_dialogue $(filter-out tests/dialogue/heldout.yaml,$(wildcard tests/dialogue/*.yaml)) $(DIALOGUE_TRAINING) --json benchmarks/results/dialogue.json
	DEBUG=1 $(PY) manage.py evaluate_dialogue tests/dialogue/heldout.yaml $(DIALOGUE_TRAINING) --json benchmarks/results/dialogue_heldout.json

# `make bench`: the dialogue stories, the performance benchmarks (#14) and the
# intent accuracy ones, each
# writing benchmarks/results/*.json. Run it on a quiet machine with `make run`
# stopped: bench_chat starts a stack of its own, and every figure is only as good
# as the CPU it had. The encoder benchmark measures the demo's active model.
bench: bench-dialogue bench-encoder bench-chat bench-intents

bench-encoder: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py setup_demo
	DEBUG=1 $(PY) manage.py bench_encoder --json benchmarks/results/encoder.json

bench-chat: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py bench_chat --customers 1 --seconds 60 \
	  --json benchmarks/results/chat_1.json
	DEBUG=1 $(PY) manage.py bench_chat --customers 50 --seconds 60 \
	  --json benchmarks/results/chat_50.json
	DEBUG=1 $(PY) manage.py bench_chat --customers 200 --seconds 60 \
	  --json benchmarks/results/chat_200.json
	DEBUG=1 $(PY) manage.py bench_chat --customers 400 --seconds 60 \
	  --json benchmarks/results/chat_400.json
	DEBUG=1 $(PY) manage.py bench_chat --idle 1000 --json benchmarks/results/idle_1000.json

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache

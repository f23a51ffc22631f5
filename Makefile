# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv from the lock first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_LEADS ?= 20000

.PHONY: venv demo test lint bench-generate bench-features bench-serving bench-scoring bench-forecast bench-quality bench-times clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/funnelcast demo --out $(DEMO_DIR) --leads $(DEMO_LEADS)

test: lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-generate: $(STAMP)
	$(BIN)/python benchmarks/generate.py

bench-features: $(STAMP)
	$(BIN)/python benchmarks/features.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache

bench-serving: $(STAMP)
	$(BIN)/python benchmarks/serving.py

bench-scoring: $(STAMP)
	$(BIN)/python benchmarks/scoring.py

bench-forecast: $(STAMP)
	$(BIN)/python benchmarks/forecast.py

bench-quality: $(STAMP)
	$(BIN)/python benchmarks/quality.py

bench-times: $(STAMP)
	$(BIN)/python benchmarks/times.py

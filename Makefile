# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv from the lock first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_LEADS ?= 20000

.PHONY: venv demo test lint browser bench-spark bench-generate bench-features bench-serving bench-scoring bench-forecast bench-quality bench-times clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/funnelcast demo --out $(DEMO_DIR) --leads $(DEMO_LEADS)

test: lint browser
	$(BIN)/python -m pytest -q

# The workspace's browser tests drive Debian's Chromium. Installed here when missing and we may (root
# with apt-get); otherwise those tests skip and say why. Never fatal: the rest of the suite still runs.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and CJK fonts for the browser tests (apt-get)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver fonts-noto-cjk >/dev/null) \
	    || echo "could not install chromium: the browser tests will skip"; \
	  else echo "chromium is missing and cannot be installed here: the browser tests will skip"; fi; }

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

bench-spark: $(STAMP)
	$(BIN)/python benchmarks/spark.py

bench-times: $(STAMP)
	$(BIN)/python benchmarks/times.py

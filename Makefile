# Everything installs itself from uv.lock: the only prerequisites are Python 3.11 and make.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
RUN := $(UV) run --frozen
DEMO_DIR ?= artifacts/demo
DEMO_CUSTOMERS ?= 20000
DEMO_API_KEY ?= demo-key
CHROMIUM := /usr/bin/chromium
JAVA := /usr/bin/java
# Debian installs the server binaries under a versioned folder; any version will do.
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
SUDO := $$( [ "$$(id -u)" = 0 ] || echo sudo )

.PHONY: install browser java postgres system demo test lint typecheck pytest clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install: otherwise every command run with PYTHONDONTWRITEBYTECODE set (as in
# many containers) recompiles mlflow, sklearn and the rest at start-up (about 8 s per `clvchurn score`).
install: $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode --python $(PYTHON)

# Debian's Chromium (and a CJK font for Chinese pages) for the browser tests; Playwright's own
# browser download is not available here.
browser: $(CHROMIUM)
$(CHROMIUM):
	$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei

# Java for the Spark engine (PySpark starts a JVM), only when missing.
java: $(JAVA)
$(JAVA):
	$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq openjdk-17-jre-headless

# PostgreSQL's server binaries for the database tests, which start a throwaway server of their own.
postgres:
	@if [ -z "$(PG_INITDB)" ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; \
	fi

system: browser java postgres

demo: install
	$(RUN) clvchurn data synth --customers $(DEMO_CUSTOMERS) --seed 7 --out $(DEMO_DIR)/raw
	$(RUN) clvchurn features build --data $(DEMO_DIR)/raw --as-of 2025-01-01 --horizon-days 180 \
		--out $(DEMO_DIR)/features.parquet
	$(RUN) clvchurn train --data $(DEMO_DIR)/raw
	$(RUN) clvchurn score --data $(DEMO_DIR)/raw --as-of 2025-07-01 --out $(DEMO_DIR)/scores-2025-07-01.parquet
	$(RUN) clvchurn score --data $(DEMO_DIR)/raw --as-of 2026-01-01 --out artifacts/scores.parquet
	$(RUN) clvchurn monitor --data $(DEMO_DIR)/raw --html $(DEMO_DIR)/monitor.html
	@echo
	@echo "Monitoring: http://127.0.0.1:8000/monitoring (report artifacts/monitoring/monitor.json, page $(DEMO_DIR)/monitor.html)"
	@echo "Service starting on http://127.0.0.1:8000 (API docs: /docs, pages: /). Try, from another shell:"
	@echo "  curl -s -H 'X-API-Key: $(DEMO_API_KEY)' -H 'Content-Type: application/json' \\"
	@echo "       -d @examples/predict_request.json http://127.0.0.1:8000/v1/predict"
	@echo "  curl -s -H 'X-API-Key: $(DEMO_API_KEY)' http://127.0.0.1:8000/v1/customers/C0000001"
	@echo
	CLVCHURN_API_KEYS=$(DEMO_API_KEY) $(RUN) clvchurn serve --host 127.0.0.1 --port 8000

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy

pytest: install system
	$(RUN) pytest

test: lint typecheck pytest

clean:
	rm -rf .venv $(TOOLS) artifacts .pytest_cache .mypy_cache .ruff_cache

# Everything installs itself from uv.lock: the only prerequisites are Python 3.11 and make.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
RUN := $(UV) run --frozen
DEMO_DIR ?= demo_data

.PHONY: install demo test lint typecheck clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

demo: install
	$(RUN) clvchurn data synth --customers 5000 --seed 7 --out $(DEMO_DIR)/raw
	$(RUN) clvchurn features build --data $(DEMO_DIR)/raw --as-of 2025-07-01 --horizon-days 180 --out $(DEMO_DIR)/features.parquet

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy

test: install lint typecheck
	$(RUN) pytest

clean:
	rm -rf $(VENV) $(TOOLS) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

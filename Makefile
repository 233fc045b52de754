# Template repository tasks. Every target sets up what it needs from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= build/demo

# Telemetry and analytics off: these tools would otherwise try the network.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export ORT_DISABLE_TELEMETRY := 1

.PHONY: help venv tools lint test test-fast demo bench clean

help:
	@echo "make demo       render a project with defaults and run its pipeline end to end"
	@echo "make test       the full test suite (render, validation, update, end to end)"
	@echo "make test-fast  everything but the end-to-end tier"
	@echo "make lint       flake8 over the template's own code (tests, scripts, benchmarks)"
	@echo "make bench      print render, pipeline and serving benchmarks"
	@echo "make clean      remove the virtualenv and build output"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --group dev
	@touch $@

# Debian's prometheus package brings promtool, which checks the generated monitoring
# config. Installing needs root (as in CI); elsewhere those checks are skipped.
tools:
	@command -v promtool >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] \
		|| apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus >/dev/null; }

lint: venv
	$(BIN)/flake8 .

test: lint tools
	$(BIN)/python -m pytest

test-fast: lint tools
	$(BIN)/python -m pytest -m "not e2e"

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/demo.py "$(DEMO_DIR)"

bench: venv
	@command -v wrk >/dev/null || apt-get install -y --no-install-recommends wrk \
		|| { apt-get update && apt-get install -y --no-install-recommends wrk; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_render_pipeline.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_serving.py

clean:
	rm -rf $(VENV) build .pytest_cache

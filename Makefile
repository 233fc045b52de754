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

.PHONY: help venv tools lint docs test test-fast demo bench clean

help:
	@echo "make demo       render a project with defaults and run its pipeline end to end"
	@echo "make test       the docs build and the full test suite (render, validation, update, end to end)"
	@echo "make test-fast  everything but the end-to-end tier"
	@echo "make lint       flake8 over the template's own code (tests, scripts, benchmarks)"
	@echo "make docs       build the documentation site into build/site (mkdocs --strict)"
	@echo "make bench      render, pipeline, bytecode and serving benchmarks, and a 10-minute soak (SOAK_SECONDS=)"
	@echo "make clean      remove the virtualenv and build output"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --group dev
	@touch $@

# Debian packages some tests need; installing needs root (as in CI), and elsewhere those
# tests are skipped. prometheus brings promtool, which checks the generated monitoring
# config. buildah, podman, runc and debootstrap build and run the generated project's
# image without a Docker daemon (tests/test_image_e2e.py): runc, not crun, is the runtime
# that works on these machines, and debootstrap makes the stand-in base image.
TOOL_PACKAGES := prometheus buildah podman runc debootstrap
TOOL_COMMANDS := promtool buildah podman runc debootstrap

tools:
	@missing=0; for tool in $(TOOL_COMMANDS); do command -v $$tool >/dev/null 2>&1 || missing=1; done; \
	[ $$missing = 0 ] || [ "$$(id -u)" != 0 ] \
		|| apt-get install -y -q --no-install-recommends $(TOOL_PACKAGES) >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $(TOOL_PACKAGES) >/dev/null; }

lint: venv
	$(BIN)/flake8 .

# The documentation site. --strict turns every warning (a broken link or anchor, a page
# missing from the nav) into a failure. Not --quiet: with mkdocs 1.6 it also hides the
# warnings from the strict check, so the output is kept and shown only on failure.
docs: venv
	@out=$$(NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site 2>&1) \
		|| { printf '%s\n' "$$out" >&2; exit 1; }
	@echo "docs: build/site/index.html"

# The fast tier runs in parallel, a module per worker, one worker more than there are cores
# (its tests wait on linters and validators in subprocesses). The end-to-end tier runs by
# group (tests/conftest.py): the tests of the shared default project together, the Feast
# and Evidently ones together, every other module (or a module's project per parameter)
# whole, so each project is built once. Two workers: on a 2-core machine the tier took
# 641 to 681 s from fresh clones (1,110 s on three workers and 2,165 s on one, in earlier
# runs); E2E_WORKERS=4 or more on larger machines.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
E2E_WORKERS ?= 2
FAST_TIER := -m "not e2e" -n $(WORKERS) --dist loadfile
E2E_TIER := -m e2e -n $(E2E_WORKERS) --dist loadgroup --durations=15

test: lint tools docs
	$(BIN)/python -m pytest $(FAST_TIER)
	$(BIN)/python -m pytest $(E2E_TIER)

test-fast: lint tools
	$(BIN)/python -m pytest $(FAST_TIER)

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/demo.py "$(DEMO_DIR)"

bench: venv
	@command -v wrk >/dev/null || apt-get install -y --no-install-recommends wrk \
		|| { apt-get update && apt-get install -y --no-install-recommends wrk; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_render_pipeline.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_bytecode.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_serving.py \
		--soak-seconds $${SOAK_SECONDS:-600}

clean:
	rm -rf $(VENV) build .pytest_cache

# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-stop test lint bench clean

$(STAMP): pyproject.toml tap-reveni/pyproject.toml target-khaos-control/pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --group dev -e './tap-reveni[testing]' -e './target-khaos-control[testing,postgres]' -e ./sandbox
	touch $@

install: $(STAMP)

# `make demo KEEP=1` leaves the sandboxes, the channel and the dashboard running.
demo: install
	$(BIN)/reveni-khaos-demo $(if $(KEEP),--keep-running)

demo-stop:
	$(BIN)/reveni-khaos-demo --stop

# The dashboard tests drive Debian's Chromium; install it when it is missing (needs root).
CHROMIUM := /usr/bin/chromedriver
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

test: lint $(CHROMIUM)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/tap_throughput.py
	$(BIN)/python bench/rules_throughput.py
	$(BIN)/python bench/target_throughput.py
	$(BIN)/python bench/channel_under_push.py

clean:
	rm -rf $(VENV) .meltano .demo output .pytest_cache .mypy_cache .ruff_cache

# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo demo-stop test lint bench bench-quick clean chromium settings schemas

# constraints.txt pins every package installed (the lock: regenerate it with
# `.venv/bin/pip freeze --exclude-editable > constraints.txt` after changing a dependency).
$(STAMP): pyproject.toml constraints.txt tap-reveni/pyproject.toml target-khaos-control/pyproject.toml sandbox/pyproject.toml orchestration/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt --group dev -e './tap-reveni[testing]' -e './target-khaos-control[channel,testing,postgres]' -e ./sandbox -e ./orchestration
	# Meltano's plugin environments follow the same dependencies: rebuilt below.
	rm -rf .meltano/extractors .meltano/loaders .meltano/utilities
	touch $@

# Meltano's plugin environments, built once before the tests (two test workers must never
# both build them on first use).
MELTANO_STAMP := .meltano/.installed
# Compiled as they are installed (uv does not compile by default): a plugin that compiles
# its modules on each start costs a second of CPU more where bytecode cannot be written.
$(MELTANO_STAMP): $(STAMP) meltano.yml
	UV_COMPILE_BYTECODE=1 $(BIN)/meltano install
	touch $@

install: $(STAMP) $(MELTANO_STAMP)

# `make demo KEEP=1` leaves the sandboxes, the channel and the dashboard running.
demo: install
	$(BIN)/reveni-khaos-demo $(if $(KEEP),--keep-running)

demo-stop:
	$(BIN)/reveni-khaos-demo --stop

# The dashboard's browser tests drive Debian's Chromium. As root (CI) it is installed when
# missing; otherwise those tests are skipped, and this says how to install it.
CHROMEDRIVER := /usr/bin/chromedriver
chromium:
	@if [ ! -x $(CHROMEDRIVER) ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	elif [ ! -x $(CHROMEDRIVER) ]; then \
		echo "Chromium is missing: the dashboard's browser tests will be skipped."; \
		echo "To run them: sudo apt-get install chromium chromium-driver"; \
	fi

test: lint chromium $(MELTANO_STAMP)
	$(BIN)/pytest --durations=10

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/typos

# Each plugin's settings in meltano.yml and its meltano-hub.yml, written from the plugin's own
# schema (`--about`); run after adding or changing a setting (tests/test_settings_sync.py).
settings: install
	$(BIN)/python scripts/settings_sync.py

# tap-reveni's schema of a Reveni return, written from the target's typed return
# (target_khaos_control/reveni.py); run after changing it (tests/test_reveni_schema.py).
# And the statements a new SQLite store is made from, as the migrations leave a store; run
# after adding a migration (tests/test_new_sqlite_store.py).
schemas: install
	$(BIN)/python scripts/reveni_schema.py
	$(BIN)/python scripts/sqlite_new_store.py

# Each figure beside its yardstick, measured in the same run (issue 14); takes a while.
# Each script also writes its figures to output/bench/<script>.jsonl (bench/figures.py);
# bench/summary.py ends with one table of issue 22's goals, MET or NOT MET, and fails if
# a script wrote no figure. The grown store is built once and kept in output/bench/cache.
BENCH_OUT := output/bench
bench: install
	rm -f $(BENCH_OUT)/*.jsonl
	$(BIN)/python bench/tap_throughput.py
	$(BIN)/python bench/rules_throughput.py
	$(BIN)/python bench/record_check.py
	$(BIN)/python bench/target_throughput.py
	$(BIN)/python bench/grown_store_keys.py
	$(BIN)/python bench/metrics_scrape.py
	$(BIN)/python bench/target_profile.py
	$(BIN)/python bench/channel_drain.py
	$(BIN)/python bench/pulls_while_pages.py
	$(BIN)/python bench/reconcile_throughput.py
	$(BIN)/python bench/channel_under_push.py
	$(BIN)/python bench/fix_proposals.py
	$(BIN)/python bench/meltano_sync.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/summary.py --out $(BENCH_OUT)

# The same scripts on small counts (a few minutes): a smoke check of the bench, not its
# figures (at these sizes start-up dominates; the goals are at the sizes `make bench` runs).
BENCH_QUICK_OUT := output/bench-quick
bench-quick: install
	rm -f $(BENCH_QUICK_OUT)/*.jsonl
	export BENCH_OUT=$(BENCH_QUICK_OUT); \
	$(BIN)/python bench/tap_throughput.py --counts 2000,5000 && \
	$(BIN)/python bench/rules_throughput.py && \
	$(BIN)/python bench/record_check.py --rounds 2 && \
	$(BIN)/python bench/target_throughput.py --counts 1000,5000 --grown 20000 --grown-load 1000 && \
	$(BIN)/python bench/grown_store_keys.py --grown 20000 --load 1000 --new-load 5000 --rounds 1 && \
	$(BIN)/python bench/metrics_scrape.py --grown 20000 && \
	$(BIN)/python bench/target_profile.py --returns 2000 --top 10 && \
	$(BIN)/python bench/channel_drain.py --documents 20000 --load 2000 && \
	$(BIN)/python bench/pulls_while_pages.py --grown 20000 --alone 50 && \
	$(BIN)/python bench/reconcile_throughput.py --returns 20000 && \
	$(BIN)/python bench/channel_under_push.py && \
	$(BIN)/python bench/fix_proposals.py && \
	$(BIN)/python bench/meltano_sync.py --rounds 1 && \
	$(BIN)/python bench/startup.py --runs 1 && \
	$(BIN)/python bench/summary.py --out $(BENCH_QUICK_OUT)

# Everything the demo, the tests and the docs' commands leave in the project folder.
clean:
	rm -rf $(VENV) .meltano .demo output .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts

# Two commands do everything on a fresh machine: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: run test lint bench bench-scale setup system-deps clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@# Bytecode even where PYTHONDONTWRITEBYTECODE is set (this machine): the workflow
	@# sandbox imports workflows/ afresh for every workflow it instantiates. A source
	@# changed later is compiled again from source, so a stale cache is never used.
	$(BIN)/python -m compileall -q relance workflows activities worker bench tests >/dev/null
	touch $(STAMP)

setup: $(STAMP)

# WeasyPrint is 4-5x faster with HarfBuzz's subsetter; DejaVu has the narrow no-break
# space Babel puts in French amounts; Noto covers the other scripts in PDFs (Arabic, Hebrew,
# Devanagari, Thai, CJK: empty boxes without it); the dashboard's browser test drives Debian's
# chromium (never `playwright install`); Debian's prometheus brings promtool, which
# checks and unit-tests the alert rules (deploy/prometheus/relance-alerts.yml,
# tests/deploy/test_alert_rules.py fails without it). Installed when we are root, hinted otherwise.
SYSTEM_PACKAGES := libharfbuzz-subset0 fonts-dejavu-core fonts-noto-core fonts-noto-cjk chromium prometheus

system-deps:
	@if dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES))) ; \
	else echo "hint: install Debian's libharfbuzz-subset0 and fonts-dejavu-core (WeasyPrint is 4-5x faster with it)"; \
	  echo "hint: install Debian's fonts-noto-core and fonts-noto-cjk (Arabic, Hebrew, Devanagari, Thai and CJK text in PDFs; empty boxes without them)"; \
	  echo "hint: install Debian's chromium for the dashboard's browser test (it is skipped without /usr/bin/chromium)"; \
	  echo "hint: install Debian's prometheus for promtool (tests/deploy/test_alert_rules.py fails without it)"; fi

run: $(STAMP)
	$(BIN)/relance dev

# Two workers, one test file each at a time (a file's tests share its module fixtures: a
# Temporal server, a database). `make test PYTEST_ARGS=` runs them in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Imports run down the layers, ruff (lint and format) and mypy (pyproject's config); CI
# runs it before the tests.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks: figures from one run, written to bench/results/ (see docs/benchmarks.md).
bench: $(STAMP)
	$(BIN)/python bench/throughput.py --invoices 200
	$(BIN)/python bench/pdf_cost.py > bench/results/pdf_cost.json
	@cat bench/results/pdf_cost.json
	$(BIN)/python bench/pdf_cost.py --without-harfbuzz-subset > bench/results/pdf_cost_without_harfbuzz_subset.json
	@cat bench/results/pdf_cost_without_harfbuzz_subset.json
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/scale.py --invoices 1000

# 10,000 invoice workflows parked on reminder timers, then all paid (about an hour on 2
# idle cores, 1.5 on a busy machine; see docs/benchmarks.md).
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py --invoices 10000

clean:
	rm -rf $(VENV) .relance

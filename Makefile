# mlmcrm: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH
export REFLEX_USE_NPM := 1
export REFLEX_TELEMETRY_ENABLED := false
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test lint format browser promtool pgbouncer nginx venv benchmarks

run: $(STAMP)
	$(PY) -m mlmcrm run

test: $(STAMP) browser promtool pgbouncer nginx lint
	$(PY) -m pytest

venv: $(STAMP)

# (Re)create the virtual environment when it is missing or requirements.txt changed.
$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mlmcrm needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

# Chromium for the browser tests: installed with apt-get when running as root.
browser:
	@if [ -x "$(CHROMIUM_PATH)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Chromium at $(CHROMIUM_PATH)."; \
		echo "Install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM_PATH."; \
		exit 1; \
	fi

# promtool for the alert rule tests (Debian's prometheus package): installed with apt-get when
# running as root.
promtool:
	@if command -v promtool >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "installing promtool (the prometheus package) for the alert rule tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends prometheus >/dev/null; \
	else \
		echo "The alert rule tests need promtool, Prometheus's rule checker."; \
		echo "Install it (Debian/Ubuntu: sudo apt-get install prometheus) or put the promtool"; \
		echo "of a Prometheus release (prometheus.io/download) on PATH."; \
		exit 1; \
	fi

# nginx for the several-machines tests (the reverse proxy of the guide's recipe): installed with
# apt-get when running as root.
nginx:
	@if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "installing nginx for the several-machines tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends nginx-light >/dev/null; \
	else \
		echo "The several-machines tests need nginx (Debian/Ubuntu: sudo apt-get install nginx-light)."; \
		exit 1; \
	fi

# PgBouncer for the tests of the app behind a transaction pooler (Debian's pgbouncer package):
# installed with apt-get when running as root. Debian puts it in /usr/sbin.
pgbouncer:
	@if command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "installing PgBouncer for the tests behind a transaction pooler"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends pgbouncer >/dev/null; \
	else \
		echo "The pooler tests need PgBouncer 1.18 or newer."; \
		echo "Install it (Debian/Ubuntu: sudo apt-get install pgbouncer) or put pgbouncer on PATH."; \
		exit 1; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/mypy
	$(PY) .ci/check_type_ignores.py

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

benchmarks: $(STAMP)
	$(PY) benchmarks/seed.py

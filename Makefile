# The two commands of the README: `make run` and `make test`. Both set everything up from nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint schemas

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/genesis-payments config

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

schemas: setup
	$(VENV)/bin/genesis-payments schemas --docs docs

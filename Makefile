# Two entry points, both from a fresh clone with Python 3.11, git and make:
#   make serve   install into .venv and start the service on http://127.0.0.1:8000
#   make test    install the test tools too and run lint, types and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: install install-test install-peers serve test lint quality

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Optional: the peers `triage quality` measures against (torch CPU build, ~1 GB).
install-peers: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[test,peers]'

quality: install-peers
	HF_HUB_OFFLINE=1 $(BIN)/triage quality --history

serve: install
	$(BIN)/triage serve

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

test: lint
	$(BIN)/pytest

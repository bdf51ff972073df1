# Two entry points, both from a fresh clone with Python 3.11, git and make:
#   make serve   install into .venv and start the service on http://127.0.0.1:8000
#   make test    install the test tools too and run lint, types and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: install install-test install-peers serve test lint quality browser

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

# The agents' page test drives Debian's Chromium (a test tool's own browser download does not
# work offline). Installed here when missing and apt is ours to use; otherwise that test is skipped
# and says why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	       || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } \
	  || echo "Chromium is not installed: the browser test will be skipped (Debian: apt-get install chromium)"

test: lint browser
	$(BIN)/pytest

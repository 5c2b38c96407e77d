# super-agent — two commands on a fresh machine:
#   make run    build (release) and start `super-agent mcp` on the built-in default config
#   make test   install what is missing, build, and run every test (Swift units + end-to-end)
SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT      ?= swift
VENV       := .venv
PYTHON     := $(VENV)/bin/python
# Debian packages the build and tests need, as pkg-config module = apt package.
PKG_MODULES := jansson:libjansson-dev sqlite3:libsqlite3-dev libmicrohttpd:libmicrohttpd-dev libcurl:libcurl4-openssl-dev hiredis:libhiredis-dev
APT_TOOLS  := pkg-config:pkg-config redis-server:redis-server
STAMP      := $(VENV)/.requirements-installed

.PHONY: help deps apt-deps venv build build-release run test test-swift test-e2e bench clean

help:
	@echo "make run    - build (release) and start super-agent mcp (ROLE_ID defaults to ceo)"
	@echo "make test   - install what is missing, then run all tests"
	@echo "make bench  - benchmarks: vs the Python MCP SDK server, pool overhead, Redis registry"

deps: apt-deps venv

# apt-get only for what pkg-config (or PATH) cannot find; idempotent.
apt-deps:
	@missing=""; \
	for pair in $(APT_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	for pair in $(PKG_MODULES); do mod=$${pair%%:*}; pkg=$${pair##*:}; \
	  pkg-config --exists $$mod 2>/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The Python venv with pinned test tools, created only when missing or out of date.
venv: $(STAMP)
$(STAMP): requirements-test.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	@touch $(STAMP)

build: apt-deps
	$(SWIFT) build

build-release: apt-deps
	$(SWIFT) build -c release

run: build-release
	ROLE_ID=$${ROLE_ID:-ceo} exec $$($(SWIFT) build -c release --show-bin-path)/super-agent mcp

test: deps
	$(SWIFT) build
	$(MAKE) --no-print-directory test-swift test-e2e

test-swift:
	$(SWIFT) test

test-e2e: venv
	SUPER_AGENT_BIN=$$($(SWIFT) build --show-bin-path)/super-agent $(PYTHON) -m pytest -q Tests/e2e

bench: deps build-release
	SUPER_AGENT_BIN=$$($(SWIFT) build -c release --show-bin-path)/super-agent $(PYTHON) bench/bench.py
	SUPER_AGENT_BIN=$$($(SWIFT) build -c release --show-bin-path)/super-agent $(PYTHON) bench/pool_bench.py
	$(PYTHON) bench/registry_bench.py

clean:
	rm -rf .build $(VENV)

# Tailorcast — every target does its own set-up from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Runtime pins only; chalice is left out because `chalice package` vendors its own runtime.
EXPORT_FLAGS := --frozen --no-default-groups --no-hashes --no-header --no-emit-project --prune chalice -q
# The voice Lambda's container image: the same runtime pins plus the `voice` group (too big for a
# zip; see layers/README.md). Its Dockerfile copies in Chalice's runtime module itself.
VOICE_REQUIREMENTS := layers/voice/requirements.txt
VOICE_EXPORT_FLAGS := $(EXPORT_FLAGS) --group voice
# Debian packages the tests and the demo use: the voice engines flite and espeak-ng,
# pocketsphinx-testdata (real LibriVox speech under /usr/share/pocketsphinx/test/data/librivox) and
# chromium (the watch page's browser tests drive it with Playwright; nothing is downloaded).
SYSTEM_DEBS := flite espeak-ng pocketsphinx-testdata chromium
# Node.js (the CDK's jsii runtime) and npm (builds the watch page), checked by command: a NodeSource
# `nodejs` ships npm itself, and Debian's `npm` package would conflict with it.
NODE_MISSING = $$(command -v node >/dev/null || echo nodejs) $$(command -v npm >/dev/null || echo npm)
# Installs the Debian packages named in the shell variable `missing`, if there are any.
APT_INSTALL = if [ -n "$${missing// }" ]; then \
		command -v apt-get >/dev/null || { echo "install these Debian packages:$$missing"; exit 1; }; \
		sudo="$$([ "$$(id -u)" = 0 ] || echo sudo)"; \
		$$sudo apt-get update -qq \
			&& DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
# The watch page's front end: hls.js and esbuild pinned in web/package-lock.json, built by
# web/build.mjs into chalicelib/web/dist (content-hashed files and manifest.json; gitignored).
WEB := web
WEB_INSTALLED := $(WEB)/node_modules/.installed
WEB_MANIFEST := chalicelib/web/dist/manifest.json
WEB_SOURCES := $(WEB)/build.mjs $(wildcard $(WEB)/src/*)

help:  ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

system-deps:  ## Debian packages: Node.js + npm, voice engines, test speech, chromium
	@missing="$(NODE_MISSING)"; \
	for pkg in $(SYSTEM_DEBS); do \
		dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
			|| missing="$$missing $$pkg"; \
	done; \
	$(APT_INSTALL)

# npm ci only when the lock changed (or node_modules is gone); Node.js and npm come first.
$(WEB_INSTALLED): $(WEB)/package.json $(WEB)/package-lock.json
	@missing="$(NODE_MISSING)"; $(APT_INSTALL)
	cd $(WEB) && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

$(WEB_MANIFEST): $(WEB_INSTALLED) $(WEB_SOURCES)
	cd $(WEB) && node build.mjs

web: $(WEB_MANIFEST)  ## Build the watch page's assets (player, styles, pinned hls.js) into chalicelib/web/dist

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(SYNCED) web  ## Create .venv with the locked dependencies and build the watch page

demo: setup system-deps  ## Run the main job end to end on the local stack, offline
	$(VENV)/bin/tailorcast demo

up: setup  ## Start the local stack and keep it running (Ctrl-C stops, state is kept)
	$(VENV)/bin/tailorcast up

# The test tiers (tests/conftest.py marks every test with exactly one; README § Tests).
test: setup system-deps  ## Run the whole test suite: every tier below
	$(VENV)/bin/pytest

unit: setup  ## Unit tier: pure Python with fakes; no AWS emulation, no Debian packages, no stack (< 1 min)
	$(VENV)/bin/pytest -m unit

functional: setup system-deps  ## Functional tier: Chalice test client and adapters over moto, the stand-ins
	$(VENV)/bin/pytest -m functional

e2e: setup system-deps  ## End-to-end tier: the whole local stack, real ffmpeg renders, Chromium
	$(VENV)/bin/pytest -m e2e

infra: setup  ## Infrastructure tier: synthesize the CDK app and assert its template
	$(VENV)/bin/pytest -m infra

fuzz: setup  ## Fuzz the API on a fresh local stack against its own OpenAPI document (schemathesis, seeded)
	$(VENV)/bin/python -m tests.fuzz.run

lint: setup  ## ruff (lint + format check), mypy and the import contracts (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

requirements.txt: uv.lock | $(UV)  ## Export runtime pins for Chalice packaging
	$(UV) export $(EXPORT_FLAGS) > $@

layers/voice/requirements.txt: uv.lock | $(UV)  ## Export the voice image's pins (runtime + voice group)
	$(UV) export $(VOICE_EXPORT_FLAGS) > $@

check-tracked:  ## Fail if git tracks anything .gitignore ignores
	@files="$$(git ls-files -ci --exclude-standard)"; \
		[ -z "$$files" ] || { echo "tracked but ignored (git rm --cached them):"; echo "$$files"; exit 1; }

check-requirements: | $(UV)  ## Fail if requirements.txt or the voice image's pins are stale
	@$(UV) export $(EXPORT_FLAGS) | diff -u requirements.txt - \
		|| { echo "requirements.txt is stale: run 'make requirements.txt'"; exit 1; }
	@$(UV) export $(VOICE_EXPORT_FLAGS) | diff -u $(VOICE_REQUIREMENTS) - \
		|| { echo "$(VOICE_REQUIREMENTS) is stale: run 'make $(VOICE_REQUIREMENTS)'"; exit 1; }

clean:  ## Remove local state and caches (keeps .venv)
	rm -rf .tailorcast .pytest_cache .mypy_cache .ruff_cache cdk.out

.PHONY: help setup system-deps web demo up test unit functional e2e infra fuzz lint check-tracked check-requirements clean

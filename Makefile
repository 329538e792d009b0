# taxifare — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SERVICES := $(sort $(notdir $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml))))
PACKAGES := libs/core $(addprefix services/,$(SERVICES)) demo sim
INSTALLED := $(VENV)/.installed
TEST_DIRS := libs/core/tests $(wildcard services/*/tests) $(wildcard demo/tests) $(wildcard sim/tests) pipelines/tests $(wildcard k8s/tests) tests
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: help install test test-core test-docker fuzz lint format constraints clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z%_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(INSTALLED) ## create .venv and install libs/core, every service (editable) and the dev tools

$(INSTALLED): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	touch $@

test: install ## run every package's tests (Postgres cases need TEST_DATABASE_URL)
	$(PYTEST) $(TEST_DIRS)

test-docker: install ## build and run the images for real (installs and starts Docker; slow)
	TAXIFARE_DOCKER_TESTS=1 $(PYTEST) -m docker $(TEST_DIRS)

fuzz: install ## schemathesis against the real predictor: every phase, stateful predict -> actuals, >= 10k cases (~4 min)
	TAXIFARE_FUZZ=1 $(PYTEST) -m fuzz -s services/predictor/tests/test_fuzz.py

test-core: install ## run libs/core's tests alone
	$(PYTEST) libs/core/tests

test-%: install ## run one service's tests alone, e.g. make test-predictor
	@test -d services/$*/tests || { echo "no service named '$*' (have: $(SERVICES))"; exit 2; }
	$(PYTEST) services/$*/tests

lint: install ## ruff: lint and formatting check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

constraints: install ## rewrite constraints.txt from what .venv holds
	{ head -2 constraints.txt; $(BIN)/pip freeze --exclude-editable | sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean: ## remove the embedded state (.local) — the database, data and models of the demo
	rm -rf .local

-include mk/*.mk

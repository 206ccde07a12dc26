# One entry point for every task: `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Evidently, for the wide drift benchmark only: its own venv (it needs pandas 2.3, the dev venv has 3).
EVIDENTLY_VENV := .venv-evidently
EVIDENTLY_STAMP := $(EVIDENTLY_VENV)/.installed
PIP_FLAGS := --quiet --disable-pip-version-check
TYPED_DIRS := layers/core/python/mlops_core functions infra/mlops_cli
# checkov (static gates) in its own venv: its dependencies clash with the dev venv's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: help dev demo test test-unit test-integration lint format build deploy deploy-built smoke bench schemas lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) pip==25.3
	$(BIN)/pip install $(PIP_FLAGS) -c requirements/constraints.txt -e '.[dev]'
	@touch $@

$(CHECKOV_STAMP): requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) pip==25.3
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) --no-deps -r requirements/checkov.txt
	@touch $@

dev: $(STAMP) ## create .venv and install the pinned dependencies

$(EVIDENTLY_STAMP): requirements/bench-evidently.txt
	$(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/pip install $(PIP_FLAGS) pip==25.3
	$(EVIDENTLY_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/bench-evidently.txt
	@touch $@

demo: $(STAMP) ## the bundle in the local cloud on generated datasets
	$(BIN)/mlops demo

test: $(STAMP) $(CHECKOV_STAMP) ## run every test (unit, integration on moto, e2e in the local cloud, template, checkov)
	$(BIN)/pytest -q

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test-integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

lint: $(STAMP) ## ruff, and mypy strict on layers/, functions/ and the CLI
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(TYPED_DIRS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schemas: $(STAMP) ## regenerate the event JSON Schemas in infra/events/schemas
	$(BIN)/python -m mlops_cli.schemas --write

build: $(STAMP) ## sam build for arm64 Lambda, then check the 250 MB size budget
	bash infra/scripts/sam.sh build
	$(BIN)/python infra/scripts/size_budget.py

deploy: build ## sam deploy with samconfig.toml (ENV=default|staging|prod)
	bash infra/scripts/sam.sh deploy --config-env $(or $(ENV),default)

# CI builds once and deploys that build to every stage: no second `sam build` here.
deploy-built: ## sam deploy of the existing .aws-sam/build, not rebuilt (ENV=default|staging|prod)
	@test -f .aws-sam/build/template.yaml || { echo "make deploy-built: no .aws-sam/build/template.yaml; run make build first" >&2; exit 2; }
	bash infra/scripts/sam.sh deploy --config-env $(or $(ENV),default)

# Post-deploy checks against a real stack (tests/smoke; `make test` never collects them).
# MARK selects, e.g. MARK='not uploads' for the read-only checks.
smoke: $(STAMP) ## check a deployed stack: outputs, data gate, predict URL, alarms (STACK=<stack name>)
	@test -n "$(STACK)" || { echo "make smoke: name the deployed stack, e.g. make smoke STACK=mlops-bundle-staging" >&2; exit 2; }
	MLOPS_SMOKE_STACK=$(STACK) $(BIN)/pytest -q -p no:cacheprovider tests/smoke $(if $(MARK),-m "$(MARK)")

bench: $(STAMP) $(EVIDENTLY_STAMP) ## benchmarks (not in CI); see docs/benchmarks.md
	$(BIN)/pip install $(PIP_FLAGS) -c requirements/constraints.txt -r requirements/bench.txt
	$(BIN)/python tests/benchmarks/bench_validation.py
	$(BIN)/python tests/benchmarks/bench_models.py
	$(BIN)/python tests/benchmarks/bench_predict.py
	$(BIN)/python tests/benchmarks/bench_drift.py
	$(BIN)/python tests/benchmarks/bench_drift_wide.py

lock: ## re-resolve requirements/constraints.txt from pyproject.toml (needs the network)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install $(PIP_FLAGS) pip==25.3 && .venv-lock/bin/pip install $(PIP_FLAGS) -e '.[dev]'
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements/constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(EVIDENTLY_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache

# commerce-link: every verb the README documents.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
MOTO     := $(abspath $(VENV)/bin/moto_server)
CFN_LINT := $(VENV)/bin/cfn-lint
PORT     ?= 3000
SANDBOX_PORT ?= 4000
FN       ?= companies
EVENT    ?= events/companies/list-companies.json

.PHONY: help venv demo dev dev-change test test-unit lint fmt build invoke deploy clean sandbox bench browser-deps

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

venv: $(VENV)/.installed ## Install the Python tools (moto, cfn-lint) into .venv

browser-deps: ## Install headless Chromium and ChromeDriver for the browser test (Debian, as root)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium and chromedriver present"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; fi

demo: venv ## Run the demo on a local stack, then stop everything
	MOTO_SERVER=$(MOTO) cargo run --quiet -p devstack -- demo

dev: venv ## Run the local stack on http://127.0.0.1:$(PORT) until Ctrl-C
	DEV_PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) MOTO_SERVER=$(MOTO) cargo run --quiet -p devstack -- dev

dev-change: ## With `make dev` running and linked: change the sandbox, wait until the API shows it
	cargo run --quiet -p devstack -- change

lint: venv ## rustfmt, clippy (warnings are errors), cfn-lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(CFN_LINT) template.yaml

test: lint browser-deps ## Everything CI runs: lint, then all tests against moto (and headless Chromium)
	tools/with-moto $(MOTO) cargo test --workspace

test-unit: ## Fast tests: no moto, no browser (the in-process sandbox store only)
	cargo test --workspace --lib --bins --quiet
	cargo test --quiet -p shared --test unit --test paced
	cargo test --quiet -p sandbox --test api
	cargo test --quiet -p testkit

sandbox: ## Run the BigCommerce sandbox store alone on 127.0.0.1:4000 (ARGS="--orders 5000 ...")
	cargo run --quiet -p sandbox -- serve $(ARGS)

bench: venv ## Benchmarks (release build), results in target/bench.json: sandbox page serving, full syncs, Commerce API page reads
	cargo bench -p sandbox --bench serve
	tools/with-moto $(MOTO) cargo bench -p devstack --bench sync
	tools/with-moto $(MOTO) cargo bench -p devstack --bench read

fmt: ## Format the code
	cargo fmt --all

invoke: venv ## Run one function on one event locally: make invoke FN=companies EVENT=events/...
	MOTO_SERVER=$(MOTO) cargo run --quiet -p devstack -- invoke $(FN) $(EVENT)

build: ## Build the Lambda functions with SAM (needs sam and cargo-lambda)
	sam build

deploy: build ## Deploy with SAM (asks for parameters the first time)
	sam deploy --guided

clean: ## Remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) .aws-sam

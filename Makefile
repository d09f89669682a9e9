# commerce-link: every verb the README documents.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
MOTO     := $(abspath $(VENV)/bin/moto_server)
CFN_LINT := $(VENV)/bin/cfn-lint
SAM_VENV := .venv-sam
SAM      := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
PORT     ?= 3000
SANDBOX_PORT ?= 4000
FN       ?= companies
EVENT    ?= events/companies/list-companies.json

.PHONY: help venv sam-venv demo dev dev-change test test-unit lint fmt package build invoke deploy clean sandbox bench browser-deps axe rotate-link-key

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

venv: $(VENV)/.installed ## Install the Python tools (moto, cfn-lint) into .venv

$(SAM_VENV)/.installed: tools/sam-requirements.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/sam-requirements.txt
	touch $@

sam-venv: $(SAM_VENV)/.installed ## Install the SAM CLI into .venv-sam (its own: it pins many packages)

browser-deps: ## Install headless Chromium and ChromeDriver for the browser test (Debian, as root)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium and chromedriver present"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; fi

demo: venv ## Run the demo on a local stack, then stop everything
	MOTO_SERVER=$(MOTO) cargo run --quiet -p devstack -- demo

dev: venv ## Run the local stack on http://127.0.0.1:$(PORT) until Ctrl-C
	DEV_PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) MOTO_SERVER=$(MOTO) cargo run --quiet -p devstack -- dev

dev-change: ## With `make dev` running and linked: change the sandbox (COUNT times), report how soon the API shows it
	cargo run --quiet -p devstack -- change $(COUNT)

lint: venv sam-venv ## rustfmt, clippy (warnings are errors), cfn-lint, sam validate --lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(CFN_LINT) template.yaml
	$(SAM) validate --lint --template template.yaml

AXE_VERSION   := 4.10.3
AXE_INTEGRITY := sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg==
AXE_JS        := target/axe/axe-$(AXE_VERSION).min.js

axe: $(AXE_JS) ## Fetch axe-core (pinned, checked against the npm registry's integrity) for the accessibility checks

$(AXE_JS):
	@mkdir -p target/axe
	curl -fsSL -o target/axe/axe-core.tgz https://registry.npmjs.org/axe-core/-/axe-core-$(AXE_VERSION).tgz
	@test "sha512-$$(openssl dgst -sha512 -binary target/axe/axe-core.tgz | base64 -w0)" = "$(AXE_INTEGRITY)" \
		|| { echo "axe-core $(AXE_VERSION): integrity mismatch"; rm -f target/axe/axe-core.tgz; exit 1; }
	tar -xzf target/axe/axe-core.tgz -C target/axe package/axe.min.js
	mv target/axe/package/axe.min.js $@ && rmdir target/axe/package && rm target/axe/axe-core.tgz

test: lint browser-deps axe ## Everything CI runs: lint, then all tests against moto (and headless Chromium, axe-core)
	AXE_CORE=$(abspath $(AXE_JS)) tools/with-moto $(MOTO) cargo test --workspace

test-unit: ## Fast tests: no moto, no browser (the in-process sandbox store only)
	cargo test --workspace --lib --bins --quiet
	cargo test --quiet -p shared --test unit --test paced --test hostile
	cargo test --quiet -p sandbox --test api
	cargo test --quiet -p testkit

test-hostile: ## The hostile-store property test's longer search: CASES (200000, about 19 minutes on 2 cores) from SEED (random, printed)
	@seed=$(or $(SEED),$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')); echo "hostile store: $(or $(CASES),200000) cases from seed $$seed"; \
		HOSTILE_CASES=$(or $(CASES),200000) HOSTILE_SEED=$$seed cargo test -p shared --test hostile

sandbox: ## Run the BigCommerce sandbox store alone on 127.0.0.1:4000 (ARGS="--orders 5000 ...")
	cargo run --quiet -p sandbox -- serve $(ARGS)

bench: venv ## Benchmarks (release build, over an hour), results in target/bench.json: sandbox page serving, full syncs and erasures, the worker's memory at 10,000 and 1,000,000 orders, Commerce API page reads, history churn, cold starts, freshness through the store's webhooks
	cargo bench -p sandbox --bench serve
	tools/with-moto $(MOTO) cargo bench -p devstack --bench sync
	tools/with-moto $(MOTO) cargo bench -p devstack --bench read
	tools/with-moto $(MOTO) cargo bench -p devstack --bench history
	tools/with-moto $(MOTO) cargo bench -p devstack --bench cold
	tools/with-moto $(MOTO) cargo bench -p devstack --bench fresh

fmt: ## Format the code
	cargo fmt --all

rotate-link-key: ## Rotate the link keys: of `make dev` (no SECRET), or of a deployed stack (SECRET=<LinkSigningKeySecret ARN>, AWS credentials from the environment); the old key is accepted for HOURS (24)
	cargo run --quiet -p devstack -- rotate-link-key $(or $(SECRET),-) $(or $(HOURS),24)

invoke: venv ## Run one function on one event locally: make invoke FN=companies EVENT=events/...
	MOTO_SERVER=$(MOTO) cargo run --quiet -p devstack -- invoke $(FN) $(EVENT)

package: ## Release bootstrap zips of every function (cargo-lambda; arm64, or x86_64 without the aarch64 target)
	tools/package

build: sam-venv ## Build the functions with `sam build` (cargo-lambda from make package's venv)
	tools/package --venv
	PATH="$(abspath .venv-package/bin):$$PATH" $(SAM) build

deploy: build ## Deploy with SAM (asks for parameters the first time)
	$(SAM) deploy --guided

clean: ## Remove build outputs and the venv
	cargo clean
	rm -rf $(VENV) $(SAM_VENV) .venv-package .aws-sam

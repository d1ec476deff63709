# Every target here is what CI runs; see .ci/run.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DG := $(VENV)/bin/distillguard
BUF_VERSION := 1.61.0
BUF := .cache/npm/node_modules/.bin/buf
GEN_DIR := services/distillguard/v1
PROTOS := $(wildcard protos/distillguard/v1/*.proto)

.PHONY: install protos protos-check lint typecheck buf-lint infra-up infra-down infra-status test test-unit demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install --quiet uv==0.9.13
	uv venv --quiet --allow-existing --python 3.11 $(VENV)
	uv pip sync --quiet --python $(PY) requirements.lock
	uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

requirements.lock: pyproject.toml
	uv pip compile --quiet --python-version 3.11 --extra dev --output-file $@ pyproject.toml

$(BUF):
	npm install --silent --no-save --prefix .cache/npm @bufbuild/buf@$(BUF_VERSION)

protos: install
	rm -f $(GEN_DIR)/*_pb2*.py $(GEN_DIR)/*_pb2*.pyi
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m grpc_tools.protoc -I protos \
		--python_out=services --grpc_python_out=services \
		--mypy_out=services --mypy_grpc_out=services $(PROTOS)

# Fails when the committed generated code differs from a fresh generation.
protos-check: protos
	@git diff --exit-code --stat -- $(GEN_DIR) || { echo "generated code is stale: run 'make protos' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- $(GEN_DIR))" || { git status --porcelain -- $(GEN_DIR); echo "untracked generated files: run 'make protos' and commit"; exit 1; }

buf-lint: $(BUF)
	cd protos && ../$(BUF) lint

typecheck: install
	$(VENV)/bin/mypy services tests

lint: buf-lint protos-check typecheck

infra-up:
	deploy/local/infra.sh up

infra-down:
	deploy/local/infra.sh down

infra-status:
	deploy/local/infra.sh status

test-unit: install
	$(VENV)/bin/pytest -m "not integration and not embedded and not browser"

test: install lint infra-up
	$(VENV)/bin/pytest

demo: install
	$(DG) demo

bench: install
	$(PY) -m distillguard.benchmarks.publish

clean: infra-down
	rm -rf .data .cache build *.egg-info

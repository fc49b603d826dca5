# Every target that needs Python first brings .venv up to date (idempotent, cheap when nothing changed).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FOOTPRINT_HOME ?= $(CURDIR)/var

.PHONY: install test lint demo dev bench clean labelstudio-install gpu-check stack-up stack-down

$(STAMP): pyproject.toml requirements-lock.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# torch first: a plain 'torch' requirement would pull the multi-GB CUDA build on a CPU machine.
	$(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q torch
	$(BIN)/python -m pip install -q -c requirements-lock.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: install
	bash scripts/test.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipelines assets labeling warehouse metering training

demo: install
	bash scripts/demo.sh

dev: install
	bash scripts/dev.sh

bench: install
	$(BIN)/python -m bench.run_all

# On a machine with NVIDIA GPUs (and a CUDA build of torch): docs/gpu-check.md. Exit 3: no GPU here.
gpu-check: install
	$(BIN)/python scripts/gpu_check.py

# The local stack of real servers (PostgreSQL + SeaweedFS S3) on loopback: docs/deploy.md.
stack-up: install
	bash scripts/ci-system-deps.sh
	bash scripts/stack.sh up

stack-down: install
	bash scripts/stack.sh down

labelstudio-install: install
	bash scripts/labelstudio-install.sh

clean:
	rm -rf $(VENV) build *.egg-info

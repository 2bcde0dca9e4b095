# One-command entry points. Every target sets up .venv from the lock files first (idempotent).
.PHONY: setup setup-dev run test test-fast test-setup check format clean

ARGS ?=

setup:
	@scripts/bootstrap.sh

setup-dev:
	@scripts/bootstrap.sh --dev

## run: the local pipeline on the bundled data (pass flags with ARGS="--span 3")
run: setup
	.venv/bin/taxi-pipeline run $(ARGS)

## test: the whole suite, end-to-end tests included (two worker processes, a test module stays on one;
## longest modules first, in the order tests/e2e/conftest.py sets, which --no-loadscope-reorder keeps)
test: setup-dev
	.venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=20 $(ARGS)

## test-fast: unit tests only
test-fast: setup-dev
	.venv/bin/python -m pytest -m "not e2e" $(ARGS)

## test-setup: builds a venv with uv and one with the pip fallback and compares both with the lock (minutes)
test-setup: setup-dev
	TAXI_TEST_SETUP=1 .venv/bin/python -m pytest tests/e2e/test_setup.py $(ARGS)

## check: formatting, lint and types
check: setup-dev
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .
	.venv/bin/mypy

format: setup-dev
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf outputs .pytest_cache .mypy_cache .ruff_cache

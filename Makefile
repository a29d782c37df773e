# newswatch: the two quick-start commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NEWSWATCH := $(VENV)/bin/newswatch

.PHONY: setup run test unit lint stack-up stack-down stack-status readme-settings

$(VENV)/.installed: pyproject.toml
	scripts/check-system
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# Quick start (a): set everything up, bring the local stack up and run the main job (Ctrl-C stops it).
run: setup
	$(NEWSWATCH) run $(RUN_ARGS)

# Quick start (b): the whole test suite, starting the local stack if it is not running.
test: setup
	$(NEWSWATCH) rules test
	$(NEWSWATCH) stack up
	$(PY) -m pytest

unit: setup
	$(PY) -m pytest tests/unit

lint: setup
	$(VENV)/bin/ruff check .

stack-up: setup
	$(NEWSWATCH) stack up

stack-down: setup
	$(NEWSWATCH) stack down

stack-status: setup
	$(NEWSWATCH) stack status

readme-settings: setup
	$(PY) scripts/update_readme_settings.py

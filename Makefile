# newswatch: the two quick-start commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NEWSWATCH := $(VENV)/bin/newswatch

.PHONY: setup run test unit lint lock stack-up stack-down stack-status readme-settings

# The streams stage's compiled speed-ups (native/, Rust) are built when cargo is there; without them
# the same results come from pure Python, slower. rustup puts cargo in ~/.cargo/bin, which a
# non-login shell may not have on its PATH.
CARGO_DIR := $(patsubst %/,%,$(dir $(or $(shell command -v cargo 2>/dev/null),$(wildcard $(HOME)/.cargo/bin/cargo))))

$(VENV)/.installed: pyproject.toml constraints.txt native/Cargo.toml native/Cargo.lock native/src/lib.rs
	scripts/check-system
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@if [ -n "$(CARGO_DIR)" ]; then \
	  PATH="$(CARGO_DIR):$$PATH" $(PY) -m pip install --quiet ./native || \
	    echo "newswatch: the compiled speed-ups did not build (see above), so the streams stage runs without them (same results, slower). Retry with: PATH=$(CARGO_DIR):\$$PATH $(PY) -m pip install ./native"; \
	else \
	  echo "newswatch: cargo not found, so the streams stage runs without its compiled speed-ups (same results, slower). Install Rust (https://rustup.rs) and run 'make setup' again to add them."; \
	fi
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

# Re-resolve every dependency to the newest versions pyproject.toml allows and record them in
# constraints.txt (then run `make test` before committing it).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

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

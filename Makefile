# Two commands for a new user: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PY      = $(BIN)/python

.PHONY: demo test lint typecheck bench clean semantic

# The venv is rebuilt only when pyproject.toml changes (stamp files).
$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-base
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Optional: semantic topics (about:). torch is pinned; 2.13.0 is a CPU build on these machines.
$(VENV)/.stamp-semantic: pyproject.toml $(VENV)/.stamp-dev
	$(PY) -m pip install --quiet 'torch==2.13.0' -e '.[dev,semantic]'
	touch $@

semantic: $(VENV)/.stamp-semantic

# Sample feeds with fresh dates, a NEWSLETTER_SECRET in .env if it has none (never replaced),
# then a dry run (which also stores the papers): `python -m newsletter serve` shows them.
demo: $(VENV)/.stamp-base
	$(PY) -m newsletter demo-feed --write-secret
	$(PY) -m newsletter send --dry-run

test: $(VENV)/.stamp-dev
	$(PY) -m pytest -q

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check newsletter tests bench
	$(BIN)/ruff format --check newsletter tests bench

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy

# Never part of `make test`. `make bench BENCH_ARGS=--quick`, or `--only e2e:postgresql:100000:4`.
bench: $(VENV)/.stamp-dev
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) state out .pytest_cache .mypy_cache .ruff_cache

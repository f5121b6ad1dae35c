# Anklet: one entry point for every routine job. `make demo` and `make test`
# set themselves up on a fresh machine (Python 3.11 and make are all they need).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TARGET ?= sim
# MicroPython with the real `bluetooth` module (NimBLE), built once into build/micropython/:
# from the vendored tarball, or from a checkout named by MPY_SRC (see sim/build_micropython.py).
MPY_SRC ?=

.PHONY: setup micropython lock demo test lint bench bench-quick hil protocol package-check clean

setup: $(STAMP) micropython

micropython:
	$(PYTHON) sim/build_micropython.py $(if $(MPY_SRC),--source $(MPY_SRC),)

# The exact versions of requirements.lock, then Anklet itself (editable) on top; `pip check`
# fails if the lock no longer satisfies pyproject.toml's ranges (renew it: make lock).
# PYTHONWARNINGS=ignore: no setuptools banner about editable installs on a new user's first make
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

# Renew requirements.lock from pyproject.toml's ranges (newest versions that fit).
lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml

demo: setup
	$(BIN)/anklet demo

# --tb=native: pytest's own traceback style parses the failing test's source with `ast`, which
# on Python 3.11 can raise "SystemError: AST constructor recursion depth mismatch" and abort the
# whole xdist run on one failure (pytest-dev/pytest#10763, pytest-dev/pytest-cov#606).
# -n auto: three workers per core that other work leaves free, at most six (tests/conftest.py).
test: setup
	$(BIN)/pytest -q -n auto --tb=native tests

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check protocol host sim hil tests bench
	$(BIN)/python -m anklet_protocol.codegen --check
	$(BIN)/pyright -p pyrightconfig.firmware.json
	$(BIN)/pyright -p pyrightconfig.json
	$(BIN)/python -m anklet_protocol.mpycheck firmware sim/anklet_sim/mpy

bench: setup
	$(BIN)/python -m bench

# The same table with 60 s end-to-end windows instead of the 5 minutes the figures are for.
bench-quick: setup
	BENCH_E2E_S=60 BENCH_LATENCY_S=20 $(BIN)/python -m bench

hil: setup
	$(BIN)/pytest -q --tb=native hil --target $(TARGET) --junitxml=hil/report-$(subst :,-,$(TARGET)).xml

protocol: setup
	$(BIN)/python -m anklet_protocol.codegen

# Anklet as users install it: a wheel into a fresh venv, deploy and log from outside the repo.
package-check: setup
	bash .ci/package-check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# Two commands on a fresh Linux machine with Python 3.11:
#   make demo   - install into ./.venv, then run the end-to-end demonstration
#   make test   - install into ./.venv, then run the whole test suite
# Everything is installed from requirements/lock.txt: pinned versions, sha256-checked.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint lock benchmark clean

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/spectral-cvae demo --out demo-output

test: $(STAMP) lint
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env

lint: $(STAMP)
	$(BIN)/ruff check spectral_cvae tests benchmarks notebooks

benchmark: $(STAMP)
	$(BIN)/python benchmarks/grid_io.py --n-spectra 10000

# Re-pin the dependencies (needs network access to the package index and `uv`).
lock:
	uv pip compile pyproject.toml --extra test --extra notebook --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements/lock.txt

clean:
	rm -rf $(VENV) demo-output .pytest_cache

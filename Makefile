# Two commands on a fresh Linux machine with Python 3.11:
#   make demo   - install into ./.venv, then run the end-to-end demonstration
#   make test   - install into ./.venv, then run the whole test suite
# Everything is installed from requirements/lock.txt: pinned versions, sha256-checked.
# `make test` also installs JAX (requirements/lock-jax.txt) and runs the model tests on it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-jax lint lock benchmark clean

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Keras on JAX beside TensorFlow (the default backend), for the JAX test run.
JAX_STAMP := $(VENV)/.installed-jax
$(JAX_STAMP): $(STAMP) requirements/lock-jax.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock-jax.txt
	touch $(JAX_STAMP)

# The model's tests again with KERAS_BACKEND=jax on the CPU. XLA compiles each new program
# (seconds each on a small CPU); the persistent cache lets every test reuse them.
JAX_TESTS := tests/test_model.py tests/test_generate.py tests/test_backends.py tests/test_physics.py
JAX_ENV := KERAS_BACKEND=jax JAX_COMPILATION_CACHE_DIR=$(VENV)/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0

demo: $(STAMP)
	$(BIN)/spectral-cvae demo --out demo-output

test: $(STAMP) $(JAX_STAMP) lint
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env
	$(JAX_ENV) $(BIN)/python -m pytest $(JAX_TESTS)

test-jax: $(JAX_STAMP)
	$(JAX_ENV) $(BIN)/python -m pytest $(JAX_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check spectral_cvae tests benchmarks notebooks

benchmark: $(STAMP)
	$(BIN)/python benchmarks/grid_io.py --n-spectra 10000

# Re-pin the dependencies (needs network access to the package index and `uv`).
lock:
	uv pip compile pyproject.toml --extra test --extra notebook --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements/lock.txt
	$(PYTHON) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['jax'], sep='\n')" \
		| uv pip compile - --constraint requirements/lock.txt --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements/lock-jax.txt

clean:
	rm -rf $(VENV) demo-output .pytest_cache

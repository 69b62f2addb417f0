# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO   ?= .hameau-demo
HOST   ?= 127.0.0.1
PORT   ?= 8080

SCHEMATHESIS ?= .venv-schemathesis

.PHONY: run test bench lint llama-server wasm i18n i18n-check screenshots clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hameau needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/hameau demo --data-dir $(DEMO) --host $(HOST) --port $(PORT)
	$(BIN)/hameau serve --data-dir $(DEMO) --host $(HOST) --port $(PORT)

# llama.cpp's own server, built once for this machine into ~/.cache/hameau (about ten minutes).
llama-server: $(VENV)/.installed-dev
	$(BIN)/hameau ai install-server

# The lent-compute workloads (hameau/compute/workloads/*.c) for wasm32-wasi, cached in
# ~/.cache/hameau/wasm (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32).
wasm: $(VENV)/.installed
	$(BIN)/python -m hameau.compute.workloads build

# schemathesis in an environment of its own: the caldav client's urllib3-future breaks its
# HTTP transport (tests/e2e/test_schemathesis.py runs it against a served node).
$(SCHEMATHESIS)/.installed:
	$(PYTHON) -m venv $(SCHEMATHESIS)
	$(SCHEMATHESIS)/bin/pip install --quiet --upgrade pip
	$(SCHEMATHESIS)/bin/pip install --quiet 'schemathesis>=4.32,<5'
	touch $@

# axe-core for the browser tests' accessibility check, from the npm registry, not tracked.
node_modules/axe-core/axe.min.js:
	npm install --no-save --no-audit --no-fund --prefix . axe-core@4

# The tests run in TEST_JOBS processes (pytest-xdist), each taking a whole file at a time (a
# file's fixtures, such as three paired homes, are made once): most tests wait on the servers,
# browsers and clusters they started, so three keep two cores busy. TEST_JOBS=0: one process.
TEST_JOBS ?= 3
test: $(VENV)/.installed-dev llama-server $(SCHEMATHESIS)/.installed node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# llama-cpp-python, the optional in-process engine: pip compiles llama.cpp for it (bench/ai.py
# compares it with llama-server; `make test` does not need it).
$(VENV)/.installed-llama-cpp: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -e '.[llama-cpp]'
	touch $@

bench: $(VENV)/.installed-dev llama-server $(VENV)/.installed-llama-cpp
	bash bench/tools.sh
	$(BIN)/python bench/idle.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/cli_start.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/files.py
	$(BIN)/python bench/check.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/ai.py
	$(BIN)/python bench/compute.py
	$(BIN)/python bench/compute_jobs.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-extract the messages and recompile the catalogues after changing any user-visible text.
LOCALE = hameau/web/locale
# Every error class's sentence is a keyword: the list is read from the code by the registry.
KEYWORDS = $(shell $(BIN)/python -m hameau.parts keywords)
EXTRACT = $(if $(KEYWORDS),,$(error `python -m hameau.parts keywords` failed)) \
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --omit-header --width 100 \
	--sort-output $(KEYWORDS)

i18n: $(VENV)/.installed
	$(EXTRACT) -o $(LOCALE)/hameau.pot .
	for lang in fr en; do test -f $(LOCALE)/$$lang/LC_MESSAGES/hameau.po || \
		$(BIN)/pybabel init -i $(LOCALE)/hameau.pot -d $(LOCALE) -D hameau -l $$lang; done
	$(BIN)/pybabel update -i $(LOCALE)/hameau.pot -d $(LOCALE) -D hameau --no-fuzzy-matching \
		--width 100
	$(BIN)/pybabel compile -d $(LOCALE) -D hameau --statistics

# Fails if user-visible text changed since the catalogue template was last extracted.
i18n-check:
	$(EXTRACT) -o $(I18N_CHECK_OUT) .
	diff -q $(LOCALE)/hameau.pot $(I18N_CHECK_OUT)

screenshots: $(VENV)/.installed-dev
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) $(SCHEMATHESIS) $(DEMO) node_modules .pytest_cache .ruff_cache .mypy_cache

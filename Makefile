# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO   ?= .hameau-demo
HOST   ?= 127.0.0.1
PORT   ?= 8080

SCHEMATHESIS ?= .venv-schemathesis

.PHONY: run test bench lint llama-server i18n i18n-check screenshots clean

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

test: $(VENV)/.installed-dev llama-server $(SCHEMATHESIS)/.installed node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev llama-server
	bash bench/tools.sh
	$(BIN)/python bench/idle.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/files.py
	$(BIN)/python bench/check.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/ai.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-extract the messages and recompile the catalogues after changing any user-visible text.
LOCALE = hameau/web/locale
EXTRACT = $(BIN)/pybabel -q extract -F babel.cfg --no-location --omit-header --width 100 \
	--sort-output -k N_ -k HameauError -k BadRequest -k Unauthorized -k Forbidden -k NotFound \
	-k Conflict -k PayloadTooLarge -k TooManyRequests -k LoginRequired -k InsufficientStorage \
	-k Unavailable -k Busy -k BackendFailed -k Phrase -k StoreNotMounted -k RangeNotSatisfiable -k BuildFailed \
	-k HomeUnreachable -k SyncFailed -k WrongPassword -k PeerFailed

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

# Two entry points: `make demo` (rehearse a deployment on the built-in sandbox)
# and `make test` (the whole suite). Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test docs clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "FabulAWS needs Python >= 3.11 (set PYTHON=python3.12 ...)"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(SUDO) apt-get install -y python3-venv
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,docs]'
	@touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(PY) -m pytest

docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -q -W -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build .pytest_cache

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Two entry points: `make demo` (rehearse a deployment on the built-in sandbox)
# and `make test` (the whole suite). Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Clients the tests drive the sandbox with; kept apart because the AWS CLI pins docutils.
TOOLS ?= .tools

.PHONY: demo test docs clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "FabulAWS needs Python >= 3.11 (set PYTHON=python3.12 ...)"'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || $(SUDO) apt-get install -y python3-venv
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,docs]'
	@touch $@

$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check awscli
	@touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m pytest

docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -q -W -b html docs docs/_build/html

clean:
	rm -rf $(VENV) $(TOOLS) docs/_build .pytest_cache

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

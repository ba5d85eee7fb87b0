# Two entry points: `make demo` (rehearse a deployment on the built-in sandbox)
# and `make test` (the whole suite). Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Clients the tests drive the sandbox with; kept apart because the AWS CLI pins docutils.
TOOLS ?= .tools

# Debian packages the sandbox's hosts and load balancers need (hosts run as root), and the local PostgreSQL
# server reset_local_db loads into (its test makes a throwaway cluster).
SYSTEM_PACKAGES := debootstrap haproxy iptables iproute2 git openssl util-linux apt-cacher-ng openssh-server postgresql
SYSTEM_COMMANDS := debootstrap haproxy iptables ip git openssl losetup apt-cacher-ng sshd pg_ctlcluster

.PHONY: demo test docs bench clean system-packages

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

system-packages:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || PATH="$$PATH:/usr/sbin:/sbin" command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages for:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; fi

demo: $(VENV)/.installed system-packages
	$(PY) examples/demo.py

test: $(VENV)/.installed $(TOOLS)/.installed system-packages
	$(VENV)/bin/ruff check fabulaws tests benchmarks
	$(VENV)/bin/mypy fabulaws
	@# The tests without sandbox hosts mostly wait on sandboxes and subprocesses: two pytest-xdist workers (a whole
	@# module to one worker; each worker has its own sandbox and moto). The host tests share one environment: one
	@# process, after them. Both always run; either one failing fails the target.
	$(PY) -m pytest -m "not hosts" -n 2 --dist loadfile; fast=$$?; $(PY) -m pytest -m hosts; hosts=$$?; [ $$fast -eq 0 ] && [ $$hosts -eq 0 ]

# Benchmarks compare with Ansible's amazon.aws (a release that still has replace_all_instances) and draw their
# charts with matplotlib: both in .tools-bench, apart from the project's own dependencies.
.tools-bench/.installed:
	$(PYTHON) -m venv .tools-bench
	.tools-bench/bin/pip install --quiet --disable-pip-version-check "ansible==9.*" boto3 "matplotlib>=3.8"
	@touch $@

# `make bench`: the rolling deploys (the tables docs/benchmarks.rst shows: N=16 at time scale 1:20 with the code
# before issue 16 beside it, N=2 at time scale 1 beside Ansible), then the end-to-end deploy on sandbox hosts (root).
# Each writes its tables and chart data to benchmarks/results/; the charts are drawn there and copied to the docs.
ROLLING_ARGS ?= --sizes 16 --fair-sizes 2 --baseline 23ecf6d

bench: $(VENV)/.installed .tools-bench/.installed system-packages
	$(PY) benchmarks/rolling_deploy.py $(ROLLING_ARGS)
	$(PY) benchmarks/end_to_end.py
	.tools-bench/bin/python benchmarks/charts.py benchmarks/results/*.json
	mkdir -p docs/_static/benchmarks && cp benchmarks/results/*.png benchmarks/results/*.txt docs/_static/benchmarks/

docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -q -W -b html docs docs/_build/html

clean:
	rm -rf $(VENV) $(TOOLS) .tools-bench docs/_build .pytest_cache

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Two entry points for people: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := simplesamlphp php-cli php-xml php-mbstring chromium xmlsec1 nginx gettext-base openssl
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: demo test lint typecheck unit venv system-deps node-deps postgres bench screenshots mutation clean

$(VENV)/.stamp-venv: pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.stamp-venv

# Debian packages for the real components the tests and the demo use (IdP, browser).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# axe-core for the accessibility tests (tests/a11y), pinned by its lock file; npm from Debian when missing.
A11Y := tests/a11y
$(A11Y)/node_modules/.stamp: $(A11Y)/package.json $(A11Y)/package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; }
	cd $(A11Y) && npm ci --no-audit --no-fund --silent
	touch $@

node-deps: $(A11Y)/node_modules/.stamp

# PostgreSQL is part of the test matrix: install it when missing, start the local cluster when
# down, and give the tests what they expect (user postgres over TCP on 127.0.0.1 without a
# password, a database named test). Changes to a cluster's access rules are made only when the
# tests could not connect, and are printed.
PG_TEST := psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAq -c
postgres:
	@command -v pg_ctlcluster >/dev/null || { echo "installing PostgreSQL"; apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
	@version=$$(ls /etc/postgresql | sort -V | tail -n 1); \
	if ! pg_isready -h 127.0.0.1 -p 5432 -q; then \
		pg_ctlcluster --skip-systemctl-redirect $$version main start; \
		for i in $$(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done; \
	fi; \
	if ! $(PG_TEST) 'select 1' >/dev/null 2>&1; then \
		hba=/etc/postgresql/$$version/main/pg_hba.conf; \
		echo "allowing user postgres from 127.0.0.1 without a password for the tests ($$hba)"; \
		sed -i '1i host all postgres 127.0.0.1/32 trust' $$hba; \
		pg_ctlcluster --skip-systemctl-redirect $$version main reload; sleep 1; \
	fi; \
	$(PG_TEST) "select 1 from pg_database where datname = 'test'" | grep -q 1 || $(PG_TEST) 'create database test'

lint: venv
	$(VENV)/bin/ruff check broker tests benchmarks
	$(VENV)/bin/mypy

# One pytest worker per core, at most four (each starts servers, browsers and PostgreSQL sessions
# of its own); PYTEST_WORKERS=0 runs every test in this process. The slowest tests are listed at
# the end, so a slow one is seen where it is added.
PYTEST_WORKERS ?= auto
test: venv system-deps node-deps postgres lint
	$(PY) -m pytest -p no:cacheprovider -n $(PYTEST_WORKERS) --maxprocesses 4 --durations=20 $(PYTEST_ARGS)

# Replace the README's screenshots (docs/screenshots) with pictures of the pages as they are now.
screenshots: venv system-deps node-deps
	BROKER_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -p no:cacheprovider -q tests/a11y/test_pages.py -k screenshots

demo: venv
	$(VENV)/bin/broker --config docker/demo.toml init
	$(VENV)/bin/broker --config docker/demo.toml serve

bench: venv system-deps postgres
	$(PY) benchmarks/policy_eval.py
	$(PY) benchmarks/decision_api.py
	$(PY) benchmarks/request_path.py
	$(PY) benchmarks/request_path.py --postgres
	$(PY) benchmarks/token_verify.py
	$(PY) benchmarks/acs.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/audit_append.py
	$(PY) benchmarks/audit_append.py --handoff --threads 1
	$(PY) benchmarks/audit_append.py --handoff --threads 8
	$(PY) benchmarks/wal_checkpoint.py
	$(PY) benchmarks/http_paths.py
	$(PY) benchmarks/http_paths.py --postgres
	$(PY) benchmarks/http_paths.py --workers 1,2

# Mutation testing of the security checks (tests/mutation/run.py): not part of `make test`, it
# runs each module's tests once per mutant (about an hour for every module on two cores).
# MUTATION_ARGS narrows it, e.g. MUTATION_ARGS="crypto/tokens.py --jobs 2".
$(VENV)/.stamp-mutation: $(VENV)/.stamp-venv
	$(PY) -m pip install -q -e '.[test,mutation]'
	touch $@

mutation: $(VENV)/.stamp-mutation
	$(PY) -m tests.mutation.run $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(A11Y)/node_modules

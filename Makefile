# fintwin: the two commands. Both work on a fresh clone; see README.md.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# The demo world: small enough for a laptop in under a minute.
DEMO_OUT := out

.PHONY: demo test lint venv install install-test bench docs clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	touch $@

venv: $(VENV)/.created

install: venv
	$(PIP) install -e .

install-test: venv
	$(PIP) install -e '.[dev,ray,service]'
	sh scripts/test-services.sh

## make demo: install fintwin, simulate a bank, train and evaluate fraud and credit models,
## pre-play a credit policy change under the adverse scenario: out/*.html
demo: install
	$(VENV)/bin/fintwin world simulate --preset retail-bank --customers 2000 --days 60 \
		--seed 7 --out $(DEMO_OUT)/world --overwrite
	$(VENV)/bin/fintwin world describe $(DEMO_OUT)/world
	$(VENV)/bin/fintwin report world $(DEMO_OUT)/world --out $(DEMO_OUT)/report.html
	rm -rf $(DEMO_OUT)/models
	$(VENV)/bin/fintwin risk train --world $(DEMO_OUT)/world --registry $(DEMO_OUT)/models
	$(VENV)/bin/fintwin risk evaluate --world $(DEMO_OUT)/world --registry $(DEMO_OUT)/models \
		--model fraud-retail-bank/1 --report $(DEMO_OUT)/fraud-report.html
	$(VENV)/bin/fintwin world simulate --preset handbook --customers 20000 --days 120 --seed 7 \
		-p economy.lending.applications_per_year=3 --out $(DEMO_OUT)/credit-world --overwrite
	rm -rf $(DEMO_OUT)/credit-model
	$(VENV)/bin/fintwin credit train --world $(DEMO_OUT)/credit-world --out $(DEMO_OUT)/credit-model
	$(VENV)/bin/fintwin credit report --model $(DEMO_OUT)/credit-model \
		--out $(DEMO_OUT)/credit-report.html
	$(VENV)/bin/fintwin stress preplay --world $(DEMO_OUT)/credit-world --scenario adverse \
		--change docs/examples/preplay-change.yaml --report $(DEMO_OUT)/preplay.html > /dev/null
	@echo "open $(DEMO_OUT)/report.html, fraud-report.html, credit-report.html and preplay.html"

lint: install-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

## make test: install test extras, lint, run the whole suite (slow and ray tests included)
test: lint
	$(VENV)/bin/pytest

## make bench: run every benchmark and print JSON (results go to bench/RESULTS.md by hand)
bench: install-test
	$(PIP) install -e '.[bench]'
	$(PY) bench/bench_handbook.py
	$(PY) bench/bench_retail_bank.py
	$(PY) bench/bench_policy_expressions.py
	$(PY) bench/bench_features.py
	$(PY) bench/bench_decisions.py
	$(PY) bench/bench_http_floor.py
	$(PY) bench/bench_decision_path.py
	$(PY) bench/bench_training.py
	$(PY) bench/bench_credit.py
	$(PY) bench/bench_portfolio.py

## make docs: regenerate docs/world.md and docs/presets.md from the code
docs: install
	$(PY) -m fintwin.data.schemas > docs/world.md
	$(PY) -m fintwin.world.presets_doc > docs/presets.md

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

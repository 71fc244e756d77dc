# sgmbench: `make bench` and `make test` are the only two commands a user needs on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= quick
WORKERS ?= 0
# The committed paper-quality results (full profile) live in results/; a quick run goes to results/quick/
# so that `make bench` never overwrites them.
ifeq ($(PROFILE),full)
RESULTS ?= results
else
RESULTS ?= results/$(PROFILE)
endif
STORE ?= $(RESULTS)/sgmbench.sqlite
PYTEST_WORKERS ?= 2

.PHONY: install test bench perf lint format clean report

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) -q tests

bench: $(STAMP)
	mkdir -p $(RESULTS)
	$(PY) -m sgmbench.cli run all --profile $(PROFILE) --workers $(WORKERS) --store $(STORE)
	$(PY) -m sgmbench.cli report --store $(STORE) --out $(RESULTS)

perf: $(STAMP)
	$(PY) -m pytest -q benchmarks/perf --benchmark-enable --benchmark-only --benchmark-json=results/perf/benchmark.json
	$(PY) -m sgmbench.perf_report results/perf/benchmark.json results/perf

report: $(STAMP)
	$(PY) -m sgmbench.cli report --store $(STORE) --out $(RESULTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check sgmbench tests benchmarks scripts
	$(VENV)/bin/ruff format --check sgmbench tests benchmarks scripts

format: $(STAMP)
	$(VENV)/bin/ruff format sgmbench tests benchmarks scripts
	$(VENV)/bin/ruff check --fix sgmbench tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks

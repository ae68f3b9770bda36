# Two commands on a fresh machine:  `make lab` and `make test`. Both create .venv if needed.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
READY   = $(VENV)/.ready
PYTEST_ARGS ?=
# Jupyter refuses to start as root (containers, cloud machines) unless told it may.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test check build build-check grade-demo bench clean-env help

help:
	@echo "make lab          create the environment if needed and open JupyterLab on notebook 01"
	@echo "make test         create the environment if needed and run the whole test suite (on the reference)"
	@echo "make check        run the public checks on YOUR course_lib (what you filled in)"
	@echo "make build        regenerate course_lib/, notebooks/ and grading/nbgrader/source from solutions/"
	@echo "make bench        tokenizer training and encoding speed (IMPL=student: of your course_lib)"
	@echo "make clean-env    delete .venv"

$(READY): requirements/lock.txt pyproject.toml requirements/jupyterlab-overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	# JupyterLab defaults for the course: no "news" pop-up or update check on a learner's first start.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp requirements/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(READY)

lab: $(READY)
	$(BIN)/jupyter lab notebooks/01_tokenization.ipynb $(LAB_ARGS)

test: $(READY)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(READY)
	$(BIN)/python -m pytest tests/test_public_checks.py --impl student $(PYTEST_ARGS)

build: $(READY)
	$(BIN)/python -m grading build

build-check: $(READY)
	$(BIN)/python -m grading build --check

# The reference by default; `make bench IMPL=student` times your own course_lib.
IMPL ?= reference
bench: $(READY)
	PYTHONPATH=$(if $(filter student,$(IMPL)),.,solutions) $(BIN)/python benchmarks/bench_tokenizer.py

clean-env:
	rm -rf $(VENV)

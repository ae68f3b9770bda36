# Two commands on a fresh machine:  `make lab` and `make test`. Both create .venv if needed.
# The course needs Python 3.11 or newer (`make lab PYTHON=python3.12` to choose one).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
READY   = $(VENV)/.ready
PYTEST_ARGS ?=
# Jupyter refuses to start as root (containers, cloud machines) unless told it may.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
NB ?=
NBGRADER_SERVER = $(addprefix nbgrader.server_extensions.,formgrader validate_assignment assignment_list course_list)

.PHONY: lab test check build build-check bench bench-grading instructor-tools clean-env help

help:
	@echo "Learners:"
	@echo "  make lab          create the environment if needed and open JupyterLab on the course (notebook 01)"
	@echo "  make check        test YOUR course_lib, notebook by notebook (make check NB=04 for one notebook)"
	@echo "Course developers and instructors:"
	@echo "  make test         the course's own test suite (on the reference solutions; what CI runs)"
	@echo "  make build        regenerate course_lib/ and notebooks/ from solutions/ (refuses to overwrite your work)"
	@echo "  make bench        tokenizer speed;  make bench-grading: seconds per graded student"
	@echo "  make instructor-tools   enable nbgrader's JupyterLab extensions in this environment"
	@echo "  make clean-env    delete .venv"

$(READY): requirements/lock.txt pyproject.toml requirements/jupyterlab-overrides.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "The course needs Python 3.11 or newer, but '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
	  echo "Install a newer Python and run, for example:  make lab PYTHON=python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	# JupyterLab defaults for the course: no "news" pop-up or update check on a learner's first start.
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp requirements/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	# nbgrader is the instructor's tool: its menu, panels and Validate button stay out of the learner's lab.
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null
	$(BIN)/jupyter labextension lock --level=sys_prefix @jupyter/nbgrader >/dev/null
	for e in $(NBGRADER_SERVER); do $(BIN)/jupyter server extension disable --sys-prefix $$e >/dev/null 2>&1; done
	touch $(READY)

lab: $(READY)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	  --ServerApp.default_url=/lab/tree/notebooks/01_tokenization.ipynb $(LAB_ARGS)

test: $(READY)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(READY)
	$(BIN)/python -m course_lib.checks $(NB)

build: $(READY)
	$(BIN)/python -m grading build $(if $(FORCE),--force)

build-check: $(READY)
	$(BIN)/python -m grading build --check

instructor-tools: $(READY)
	$(BIN)/jupyter labextension unlock --level=sys_prefix @jupyter/nbgrader
	$(BIN)/jupyter labextension enable --level=sys_prefix @jupyter/nbgrader
	for e in $(NBGRADER_SERVER); do $(BIN)/jupyter server extension enable --sys-prefix $$e; done

# The reference by default; `make bench IMPL=student` times your own course_lib.
IMPL ?= reference
bench: $(READY)
	PYTHONPATH=$(if $(filter student,$(IMPL)),.,solutions) $(BIN)/python benchmarks/bench_tokenizer.py
	PYTHONPATH=$(if $(filter student,$(IMPL)),.,solutions) $(BIN)/python benchmarks/bench_attention.py
	PYTHONPATH=$(if $(filter student,$(IMPL)),.,solutions) $(BIN)/python benchmarks/bench_kv_cache.py

bench-grading: $(READY)
	$(BIN)/python benchmarks/bench_grading.py

clean-env:
	rm -rf $(VENV)

# vaecourse tasks: `make setup` once, then `make lab` to learn or `make test` to check.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest -n 2 --dist loadfile
PYTEST_ARGS ?=
SHARED_DATA := ../shared/data
LOCAL_DATA := $(CURDIR)/.cache/data

# A developer's checkout sits next to a read-only ../shared/data: use a copy of its MNIST in
# .cache/data. A learner has none, leaves VAECOURSE_DATA unset and uses the per-user cache.
ifeq ($(VAECOURSE_DATA),)
ifneq ($(wildcard $(SHARED_DATA)/MNIST/raw/*.gz),)
VAECOURSE_DATA := $(LOCAL_DATA)
endif
endif
ifneq ($(VAECOURSE_DATA),)
export VAECOURSE_DATA
endif

# Runs one suite; pytest's exit code 5 (no tests collected) fails with a message, never silently.
define run_pytest
	$(PYTEST) $(PYTEST_ARGS) $(1) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests from $(1)" >&2; fi; exit $$rc; }
endef

.PHONY: help setup lab test data bank decks

help:
	@echo "make setup  create $(VENV) and install the course with its tools"
	@echo "make lab    setup, then open the notebooks in JupyterLab"
	@echo "make test   run every test suite (VAECOURSE_DATA=$(VAECOURSE_DATA))"
	@echo "make decks  build the offline lecture decks into artifacts/decks/ (needs npm once)"

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	touch $@

# JupyterLab refuses to start as root (common in containers) unless told it may.
lab: setup
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

# Copies the shared MNIST archives when they are used, then loads every dataset once (so
# parallel test workers never extract the same archive at the same time) and shows what loads.
data:
	@test -x $(PY) || { echo "No $(PY): run 'make setup' first." >&2; exit 1; }
ifeq ($(VAECOURSE_DATA),$(LOCAL_DATA))
ifneq ($(wildcard $(SHARED_DATA)/MNIST/raw/*.gz),)
	mkdir -p $(LOCAL_DATA)/MNIST/raw
	cp -u $(SHARED_DATA)/MNIST/raw/*.gz $(LOCAL_DATA)/MNIST/raw/
endif
endif
	-$(PY) -m vaecourse.data

# Trains the model bank behind the sliders once (minutes on a CPU), so that notebooks running in
# parallel find it cached instead of waiting for each other.
bank: data
	$(PY) -m vaecourse.bank

# Lecture decks: reveal.js, MathJax and fonts come from npm once (decks/package-lock.json) and are
# copied into artifacts/decks/vendor/, so the decks open with no network (INSTRUCTOR_GUIDE.md).
decks/node_modules/.package-lock.json: decks/package.json decks/package-lock.json
	cd decks && npm ci --no-audit --no-fund
decks: setup bank decks/node_modules/.package-lock.json
	$(PY) -m vaecourse.instructor.slides

# Unit tests and every notebook under nbval (lessons, solutions showing ✅, exercises showing ⏳),
# two at a time, one torch thread each (two processes on two cores), then the browser and the
# Colab-versions suites. Each line must collect tests.
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider
OWN_SUITES := --ignore=tests/browser --ignore=tests/colab --ignore=tests/test_colab_install.py
# Then every notebook again on the pretend accelerator (the device rule's guard, tests/fake_accelerator.py),
# one notebook per test, spread over both cores.
test: setup bank decks
	OMP_NUM_THREADS=1 $(call run_pytest,$(NBVAL) $(OWN_SUITES) -m "not accelerator" tests/ notebooks/ solutions/ exercises/)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist load -p no:cacheprovider -m accelerator tests/test_device_rule.py
	$(PY) -m pytest -p no:cacheprovider -rs tests/browser -m browser
	bash .ci/colab.sh

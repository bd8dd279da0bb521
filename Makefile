# hw2-report: `make report` builds the report, `make test` runs the tests.
# Both create .venv and install the project on first use; nothing else is needed.

PROFILE ?= default
# SEEDS=N (N > 1) repeats training over N seeds: the profile becomes $(PROFILE)-seedsN,
# with its own results/ folder and report/report-$(PROFILE)-seedsN.* files
SEEDS ?= 1
# `make data DATASET=octmnist|ljspeech` fetches one data set (default: both)
DATASET ?= all
PROF := $(PROFILE)$(if $(filter-out 1,$(SEEDS)),-seeds$(SEEDS))
# DATA=real runs the experiments that have a real data set on it (--set data=...); an unrelated
# DATA in the environment (a path, say) is ignored, a value given on the command line is checked
DATA ?=
DATA_ARG = $(if $(DATA),$(if $(filter command line,$(origin DATA)),--data $(DATA),$(if $(filter real profile,$(DATA)),--data $(DATA))))
# ARGS='-k q2 -x' is passed to pytest by `make test` and `make test-fast`
ARGS ?=
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BUILD = $(PY) -m pipeline build --profile $(PROF) $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR)) $(DATA_ARG)

.DEFAULT_GOAL := help
.PHONY: help venv report status test test-fast q1 q2 q3 data clean verify diff preview

help: ## list the targets
	@echo "usage: make <target> [PROFILE=quick|default|homework] [SEEDS=N] [DATA=real] [JOBS=N] [EXECUTOR=local|slurm|submitit-local]"
	@echo "       (PROFILE defaults to default; SEEDS=3 repeats training over 3 seeds and reports mean ± sd;"
	@echo "        DATA=real runs Q2 and Q3 on the real data sets; make test ARGS='-k q2' passes ARGS to pytest;"
	@echo "        make data DATASET=octmnist|ljspeech fetches one data set, both by default)"
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project (done automatically)

report: $(STAMP) ## rerun experiments whose results are missing or stale, render report/report.{html,pdf}
	$(BUILD)

status: $(STAMP) ## per experiment: fresh, stale (why) or missing, and the command that fixes it; fails if any is not fresh
	$(PY) -m pipeline status --profile $(PROF) $(DATA_ARG)

test: $(STAMP) ## run the test suite (ARGS='-k …' selects tests)
	$(PY) -m pytest -q $(ARGS)

test-fast: $(STAMP) ## the tests not marked slow: no experiment runs, no end-to-end render
	$(PY) -m pytest -q -m "not slow" $(ARGS)

q1: $(STAMP) ## rerun Q1 (attention) and render; other experiments are not rerun
	$(BUILD) --rerun q1 --run none

q2: $(STAMP) ## rerun Q2 (CNN on OCTMNIST) and render; other experiments are not rerun
	$(BUILD) --rerun q2 --run none

q3: $(STAMP) ## rerun Q3 (speech recognition) and render; other experiments are not rerun
	$(BUILD) --rerun q3 --run none

verify: $(STAMP) ## rerun from scratch (EXP=q2 for one) and judge every printed number against its noise
	$(PY) -m pipeline verify --profile $(PROF) $(if $(EXP),--exp $(EXP)) $(if $(JOBS),--jobs $(JOBS))

diff: $(STAMP) ## what changed in results/ since REV (default HEAD), against noise; report/diff-<profile>.html
	$(PY) -m pipeline diff --profile $(PROF) $(if $(REV),--rev $(REV)) $(if $(EXP),--exp $(EXP))

preview: $(STAMP) ## serve the HTML report on 127.0.0.1 (PORT=4848), re-rendered live as templates or results change
	$(PY) -m pipeline preview --profile $(PROF) $(if $(PORT),--port $(PORT))

data: $(STAMP) ## fetch the real data sets, OCTMNIST and LJ Speech 1.1 (2.6 GB); DATASET=octmnist|ljspeech for one
	$(PY) -m hw2.download $(DATASET)

clean: ## remove rendered reports (never results)
	rm -rf report/diff-*.html report/report*.html report/report*.pdf report/report*.qmd report/report*.typ report/figures report/.quarto

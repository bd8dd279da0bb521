# hw2-report: `make report` builds the report, `make test` runs the tests.
# Both create .venv and install the project on first use; nothing else is needed.

PROFILE ?= default
# SEEDS=N (N > 1) repeats training over N seeds: the profile becomes $(PROFILE)-seedsN,
# with its own results/ folder and report/report-$(PROFILE)-seedsN.* files
SEEDS ?= 1
# `make data DATASET=octmnist|ljspeech` fetches one data set (default: both)
DATASET ?= all
PROF := $(PROFILE)$(if $(filter-out 1,$(SEEDS)),-seeds$(SEEDS))
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help venv report status test q1 q2 q3 data clean verify diff preview

help: ## list the targets
	@echo "usage: make <target> [PROFILE=quick|default|homework] [SEEDS=N] [JOBS=N] [EXECUTOR=local|slurm|submitit-local]"
	@echo "       (PROFILE defaults to default; SEEDS=3 repeats training over 3 seeds and reports mean ± sd)"
	@echo "       make data [DATASET=all|octmnist|ljspeech]"
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project (done automatically)

report: $(STAMP) ## rerun experiments whose results are missing or stale, render report/report.{html,pdf}
	$(PY) -m pipeline build --profile $(PROF) $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR))

status: $(STAMP) ## say per experiment whether its results are fresh or stale, and why
	$(PY) -m pipeline status --profile $(PROF)

test: $(STAMP) ## run the test suite
	$(PY) -m pytest -q

q1: $(STAMP) ## rerun Q1 (attention) and refresh the report
	$(PY) -m experiments.q1_attention --profile $(PROF)
	$(PY) -m pipeline build --profile $(PROF) $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR))

q2: $(STAMP) ## rerun Q2 (CNN on OCTMNIST) and refresh the report
	$(PY) -m experiments.q2_cnn --profile $(PROF)
	$(PY) -m pipeline build --profile $(PROF) $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR))

q3: $(STAMP) ## rerun Q3 (speech recognition) and refresh the report
	$(PY) -m experiments.q3_asr --profile $(PROF)
	$(PY) -m pipeline build --profile $(PROF) $(if $(JOBS),--jobs $(JOBS)) $(if $(EXECUTOR),--executor $(EXECUTOR))

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

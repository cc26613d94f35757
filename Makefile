# The two commands of the README: `make demo` and `make test`.
# Each creates .venv on first use, so either works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch is pinned: an unpinned torch pulls several GB of CUDA packages.
	$(BIN)/pip install --quiet "torch==2.13.0"
	# strict editable mode exposes only coursekit; a kernel must never find the reference mytorch.
	$(BIN)/pip install --quiet -e ".[test,postgres]" --config-settings editable_mode=strict
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/course demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/train_bench.py

clean:
	rm -rf demo release submitted autograded feedback gradebook.db source/*/mytorch source/*/data source/*/coursekit

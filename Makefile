# The two commands of the README: `make demo` and `make test`; `make check` and `make lint` while working.
# Each creates .venv on first use, so either works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint bench clean

# PyTorch first, pinned and CPU-only (PyPI's Linux build is CUDA's, several GB):
# coursekit/runtime/pytorch.py (standard library only, so it runs before the kit is
# installed) picks the pip arguments: a local wheel in pip's find-links (offline),
# else the +cpu build from PyTorch's CPU index (macOS: PyPI). TORCH_INDEX_URL or
# TORCH_SPEC in the environment choose another build.
# The editable install maps only the coursekit package: a grading kernel must
# never find the reference mytorch through the environment (tested).
$(STAMP): pyproject.toml coursekit/runtime/pytorch.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	torch="$$($(BIN)/python -m coursekit.runtime.pytorch --print)" && $(BIN)/pip install --quiet $$torch
	$(BIN)/pip install --quiet -e ".[test,postgres]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/course demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The fast tier: no slow, class-wide or browser tests (markers: pyproject.toml, areas: tests/conftest.py);
# --kit-touched fails it if no selected test imported some module under coursekit/.
check: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not classwide and not browser" --kit-touched

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/train_bench.py

clean:
	rm -rf demo release submitted autograded feedback gradebook.db source/*/mytorch source/*/data source/*/coursekit source/*/helpers

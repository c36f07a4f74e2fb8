# tinygan -- `make test` is the test command CI runs (.ci/run); it sets itself up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-gpu bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

# The whole suite, lesson notebooks included, on the CPU (GPU tests skip themselves without CuPy).
test: $(STAMP)
	TINYGAN_FAST=1 $(PY) -m pytest -n 2 -q

# On a machine with an NVIDIA GPU and CuPy installed (pip install -e '.[cuda13]').
test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu

bench: $(STAMP)
	$(PY) benchmarks/autograd_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

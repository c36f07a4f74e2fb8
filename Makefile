# tinygan -- `make test` is the test command CI runs (.ci/run); it sets itself up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_STAMP := $(VENV)/.lessons-installed

.PHONY: demo test lessons test-gpu gpu-check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

# Train DCGAN for one epoch of MNIST on the CPU (MNIST is fetched and checksummed on first use);
# it ends by printing where the sample grid and the loss curves are (runs/demo/samples.png, losses.png).
demo: $(STAMP)
	rm -rf runs/demo
	$(PY) -m tinygan train dcgan --epochs 1 --device cpu --out runs/demo

# The whole suite, lesson notebooks included, on the CPU (GPU tests skip themselves without CuPy).
test: $(STAMP)
	# Two test workers on two cores: one thread each, for BLAS and for tinygan's own CPU threads
	# (two each would fight over the cores; tests/kernels/test_cpu_threads.py turns the threads
	# on itself).
	TINYGAN_FAST=1 TINYGAN_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q

# The lesson notebooks in JupyterLab, which this installs into .venv once (the `lessons` extra;
# `make test` does not need it). Headless, on a port of your choice:
#   make lessons LAB_ARGS="--no-browser --port 8888"
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,lessons]'
	touch $(LAB_STAMP)

lessons: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab lessons/ $(LAB_ARGS)

# On a machine with an NVIDIA GPU and CuPy installed (pip install -e '.[cuda13]').
test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu

# The one prepared script a lent GPU runs (tools/gpu_check.py): the GPU tests, compute-sanitizer's
# memcheck and racecheck over the kernel tests, the kernel benchmarks, the DCGAN, StyleGAN-lite
# and BigGAN-lite steps against PyTorch and a short StyleGAN-lite run, within 8 minutes, into DIR/report.md.  It uses the machine's own Python (CuPy, PyTorch and
# pytest installed there; nothing is downloaded):  make gpu-check DIR=gpu-report
GPU_PYTHON ?= python3
gpu-check:
	@test -n "$(DIR)" || { echo "usage: make gpu-check DIR=folder-for-the-report" >&2; exit 2; }
	$(GPU_PYTHON) tools/gpu_check.py $(DIR)

bench: $(STAMP)
	$(PY) benchmarks/autograd_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
